"""`backprop eval PROGRAM --points FILE | --grid NAME=START:STOP:N`: many points at once.

Load, call, render: the engine (engine/stream.py, engine/points.py) reads,
evaluates and writes the rows; here the options become a source, a writer
and a renderer (the terminal summary, the progress bar, the lines on stderr).
numpy, pyarrow and SymPy are imported by the engine, and only in this mode.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from typing import IO, Any

import click
from backprop.cli.main import EXIT_BAD_INPUT, check_exit_code, read_program
from backprop.cli.numbers import number
from backprop.parser import BackpropError, name_list, shorten

FORMATS = ("jsonl", "csv", "summary")
POINTS_FORMATS = ("csv", "jsonl")
PROGRESS_AFTER = 1.0  # seconds: a shorter run shows no progress bar


def _format_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return None


def _sniff(stream: Any) -> str:
    """csv or jsonl from the first bytes: a JSON Lines file starts with '{'."""
    peek = getattr(stream, "peek", None)
    head = peek(64) if peek is not None else b""
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


def run_points(
    *,
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    points: str | None,
    points_format: str | None,
    grids: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    no_check: bool,
    check_seconds: float,
    strict: bool,
    precision: int | None,
    source_box: list[str | None],
) -> int:
    """Evaluate at every point of the file or grid; the exit code (2 if a point failed)."""
    if points is not None and grids:
        raise click.UsageError("give --points FILE or --grid, not both")
    if points_format is not None and points is None:
        raise click.UsageError("--points-format is the format of --points FILE")
    if points == "-" and (program == "-" or path == "-"):
        raise click.UsageError(
            "the program and the points cannot both come from standard input: "
            "give the program as an argument or with -f FILE"
        )
    if output == "-":
        output = None  # standard output, as without -o
    if fmt is None:
        fmt = _format_of(output) if output else None
        if output and fmt is None:
            raise click.UsageError(
                f"cannot tell the format of {shorten(output, tail=True)} from its name: "
                "give --format jsonl or --format csv"
            )
        if fmt is None:
            fmt = "summary" if sys.stdout.isatty() else "jsonl"
    if fmt == "summary" and output:
        raise click.UsageError("--format summary is for the terminal; -o FILE takes jsonl or csv")
    if output and output != "-" and points and points != "-" and _same_file(output, points):
        raise click.UsageError(
            f"-o {shorten(output, tail=True)} is the same file as --points: writing the rows "
            "would empty the points before they are read; give another -o FILE"
        )

    from backprop.engine.point import defaults, merge, parse_at

    source = read_program(program, path)
    source_box[0] = source
    given = parse_at(at)
    fixed = merge(defaults(source), given)
    overridden = [name for name, _ in given]

    from backprop.engine import points as engine_points
    from backprop.engine import stream as engine_stream

    compiled = engine_points.compile(source)
    names = compiled.inputs
    with ExitStack() as stack:
        blocks, where, reader, total = point_blocks(
            compiled, points, points_format, grids, fixed, overridden, stack
        )
        sink = _open_output(output, fmt, stack)
        writer: engine_stream.Writer
        if fmt == "csv":
            writer = engine_stream.CsvWriter(sink, names)
        elif fmt == "jsonl":
            writer = engine_stream.JsonLinesWriter(sink, names)
        else:
            writer = engine_stream.NullWriter()
        checker = None
        if not no_check:
            from backprop.engine.points_check import PointsCheck

            checker = PointsCheck(compiled, check_seconds)
            checker.prepare()
        summary = engine_stream.Summary(names)
        summary.ranges = fmt == "summary" or bool(output and sys.stdout.isatty())
        progress = _Progress(total, reader if total is not None and not grids else None)
        stack.callback(progress.stop)

        def on_rows(rows: Any) -> None:
            if checker is not None:
                checker.add(rows)
            progress.advance(len(rows.value))
            if sink is sys.stdout.buffer:
                sink.flush()

        engine_stream.run(compiled, blocks, writer, summary, on_rows)
        document = checker.document() if checker is not None else None
        if document is not None:
            writer.check(document)
        writer.close()
        progress.stop()
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    if fmt == "summary":
        click.echo(render_summary(summary, document, precision, where, width), nl=False)
    else:
        if document is not None:
            click.echo(f"check   sympy: {document['status']}; {document['message']}", err=True)
        if output and sys.stdout.isatty():
            click.echo(render_summary(summary, document, precision, where, width), nl=False)
    if summary.failed:
        click.echo(_failures_line(summary), err=True)
        return EXIT_BAD_INPUT
    return check_exit_code(document["status"] if document else "skipped", strict)


def point_blocks(
    compiled: Any,
    points: str | None,
    points_format: str | None,
    grids: Sequence[str],
    fixed: dict[str, float],
    overridden: Sequence[str],
    stack: ExitStack,
) -> tuple[Any, str, IO[bytes] | None, int | None]:
    """The blocks of points of --points FILE or --grid (also `backprop check`'s):
    (blocks, where they come from, the file's reader, a total for progress: points
    of a grid, bytes of a file, or None)."""
    from backprop.engine import stream as engine_stream

    unknown = [name for name in fixed if name not in compiled.graph.inputs]
    if unknown:  # as at one point: --at (or '# at:') naming something that is not an input
        verb = "is not an input" if len(unknown) == 1 else "are not inputs"
        raise BackpropError(
            f"{name_list(unknown)} {verb}; inputs are: "
            f"{name_list(list(compiled.inputs)) if compiled.inputs else '(none)'}"
        )
    if grids:
        parsed = [engine_stream.parse_grid(g) for g in grids]
        blocks = engine_stream.grid_blocks(compiled, parsed, fixed, overridden)
        return blocks, "--grid", None, engine_stream.grid_size(parsed)
    assert points is not None
    reader, where = _open_points(points, stack)
    kind = points_format or (None if points == "-" else _format_of(points))
    kind = kind or _sniff(reader)
    native = None
    if kind == "csv":
        native = points if points != "-" and os.path.isfile(points) else None
        blocks = engine_stream.csv_blocks(compiled, reader, where, fixed, overridden, path=native)
    else:
        blocks = engine_stream.jsonl_blocks(compiled, reader, where, fixed, overridden)
    # Progress in bytes where Python reads the file; pyarrow reading it itself
    # says nothing on the way: then a count of points.
    return blocks, where, reader, _size(reader) if native is None else None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): not the same file
        return False


def _open_points(points: str, stack: ExitStack) -> tuple[IO[bytes], str]:
    if points == "-":
        stdin = sys.stdin.buffer
        if not hasattr(stdin, "peek"):  # not a buffered reader (an embedding program's)
            import io

            stdin = io.BufferedReader(io.BytesIO(stdin.read()))  # type: ignore[arg-type]
        return stdin, "standard input"
    try:
        handle = stack.enter_context(open(points, "rb"))  # noqa: SIM115 - closed by the stack
    except OSError as err:
        raise BackpropError(
            f"cannot read {shorten(points, tail=True)}: {err.strerror or err}", kind="io"
        ) from None
    return handle, shorten(points, tail=True)


def _open_output(output: str | None, fmt: str, stack: ExitStack) -> IO[bytes]:
    if output is None or output == "-":
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(output, "wb"))  # noqa: SIM115 - closed by the stack
    except OSError as err:
        raise BackpropError(
            f"cannot write {shorten(output, tail=True)}: {err.strerror or err}", kind="io"
        ) from None


def _size(reader: IO[bytes]) -> int | None:
    try:
        return os.fstat(reader.fileno()).st_size or None
    except (OSError, ValueError, AttributeError):
        return None


class _Progress:
    """A rich progress bar on stderr, only on a terminal and only for a run past a second."""

    def __init__(self, total: int | None, reader: IO[bytes] | None) -> None:
        self.total = total  # points (a grid), bytes (with a reader), or None (unknown)
        self.reader = reader
        self.started = time.monotonic()
        self.done = 0
        self.bar: Any = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty() and not os.environ.get("NO_COLOR")

    def advance(self, rows: int) -> None:
        self.done += rows
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < PROGRESS_AFTER:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("points"),
                BarColumn(),
                TextColumn("{task.fields[done]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("points", total=self.total, done="")
        self.bar.update(self.task, completed=self._position(), done=f"{self.done:,}")

    def _position(self) -> int:
        if self.reader is None:
            return self.done
        try:
            return self.reader.tell()
        except (OSError, ValueError):
            return self.done

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _failures_line(summary: Any) -> str:
    point, line, message = summary.errors[0]
    where = f"point {point + 1:,}" + (f" (line {line:,})" if line is not None else "")
    return (
        f"backprop: {summary.failed:,} of {summary.points:,} points failed; their rows carry "
        f"the error (the first: {where}: {message})"
    )


# --- the terminal summary ------------------------------------------------------------------


def _rows_table(summary: Any, names: list[str], digits: int | None, kept: int) -> list[str]:
    fmt = (lambda x: number(x, digits)) if digits else number
    headers = [*names, "value", *[f"d_{n}" for n in names[:kept]]]
    rows = []
    for point, value, grads, error in summary.first:
        if error:
            cells = [*map(fmt, point), "error", *[""] * kept]
        else:
            assert value is not None
            cells = [*map(fmt, point), fmt(value), *map(fmt, grads[:kept])]
        rows.append(cells)
    return _table(headers, rows, set(range(len(headers))))


def _first_rows(
    summary: Any, names: list[str], precision: int | None, width: int | None
) -> list[str]:
    """The first rows' table, made to fit `width` by rounding, then by leaving out gradients."""
    table = _rows_table(summary, names, precision, len(names))
    if width is None or max(map(len, table)) <= width:
        return table
    for digits in (10, 8, 6, 4):
        if precision is not None and digits >= precision:
            continue
        table = _rows_table(summary, names, digits, len(names))
        if max(map(len, table)) <= width:
            return [
                *table,
                f"  (rounded to {digits} significant digits to fit; -o FILE has them all)",
            ]
    for kept in range(len(names) - 1, -1, -1):
        table = _rows_table(summary, names, 4, kept)
        if max(map(len, table)) <= width or kept == 0:
            left = ", ".join(f"d_{n}" for n in names[kept:])
            return [
                *table,
                f"  (rounded to 4 digits; {left} left out to fit; -o FILE has them all)",
            ]
    return table


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(r[c]) for r in [headers, *rows]) for c in range(len(headers))]
    out = []
    for row in [headers, *rows]:
        cells = [
            cell.rjust(w) if c in numeric else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def render_summary(
    summary: Any, check: dict | None, precision: int | None, where: str, width: int | None = None
) -> str:
    """The readable summary: the first rows, the count, each column's range, the errors.

    With a `width` (a terminal's), the first rows are rounded to fewer significant
    digits until they fit (never cut), then the last gradient columns are left out;
    a line says so. Piped, every digit, whatever the width.
    """
    names = list(summary.names)
    lines = [
        f"points  {summary.points:,} from {where}"
        + (f", {summary.failed:,} failed" if summary.failed else "")
    ]
    if summary.first:
        shown = "first rows" if summary.points > len(summary.first) else "rows"
        lines.append(f"{shown} ({len(summary.first)} of {summary.points:,})")
        lines += _first_rows(summary, names, precision, width)
    fmt = (lambda x: number(x, precision)) if precision else number
    if summary.points > summary.failed:
        ranges = [("value", summary.value)] + [(f"d_{n}", summary.gradients[n]) for n in names]
        lines.append("ranges (over the points that did not fail)")
        rows = []
        for label, r in ranges:
            low = fmt(r.low) if r.low <= r.high else ""
            high = fmt(r.high) if r.low <= r.high else ""
            extra = f"{r.non_finite:,} inf or nan" if r.non_finite else ""
            rows.append([label, low, high, extra])
        lines += _table(["column", "min", "max", ""], rows, {1, 2})
    if summary.errors:
        lines.append(f"errors ({summary.failed:,} points; the first {len(summary.errors)})")
        for point, line, message in summary.errors:
            at = f"point {point + 1:,}" + (f", line {line:,}" if line is not None else "")
            lines.append(f"  {at}: {message}")
    if check is not None:
        lines.append(f"check   sympy: {check['status']}; {check['message']}")
    else:
        lines.append("check   none: cross-check skipped (--no-check)")
    return "\n".join(lines) + "\n"
