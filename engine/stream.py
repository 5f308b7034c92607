"""Points in, rows out, in chunks: CSV (pyarrow) or JSON Lines files, and grids.

`run(...)` reads blocks of points, evaluates each block with the numpy
interpreter (engine/points.py), writes its rows, and keeps a summary (counts,
ranges, the first rows, where errors occurred). Memory stays that of a few
blocks, whatever the number of points. The CLI (cli/points.py) chooses the
source, the writer and the renderer; nothing here prints to a terminal.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from backprop.engine.errors import InputError
from backprop.engine.points import Compiled
from backprop.parser import BackpropError, name_list, shorten

BLOCK_ROWS = 1 << 16  # rows per block read, evaluated and written at a time
CSV_BLOCK_BYTES = 1 << 22  # bytes pyarrow's CSV reader parses at a time
MAX_GRID_POINTS = 10_000_000  # a larger --grid is refused (a file has no limit)
FIRST_ROWS = 10  # rows the summary shows
ERROR_ROWS = 5  # failed rows the summary lists
OUTPUT_COLUMNS = ("value", "error")  # besides d_NAME: skipped when read back as points


@dataclass
class Block:
    """Points: one float64 array per input (program order), and where they came from."""

    columns: list[Any]
    first: int  # the index of the first point (0-based, in input order)
    lines: Any = None  # the file's line number of each point (None for a grid)

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0


@dataclass
class Rows:
    """One evaluated block: the points, the value, the gradients, and errors per point."""

    block: Block
    value: Any
    gradients: list[Any]
    failed: Any
    errors: dict[int, BackpropError]  # row within the block -> its error


# --- sources -----------------------------------------------------------------------------


def _fixed_columns(
    compiled: Compiled, given: Sequence[str], fixed: Mapping[str, float], where: str
) -> dict[str, float]:
    """The inputs the file or grid does not give, from --at (or the '# at:' line);
    an input that has neither is an error naming it."""
    names = list(compiled.inputs)
    missing = [n for n in names if n not in given and n not in fixed]
    if missing:
        raise InputError(
            f"missing a value for {name_list(missing)}: {where} has no such column and no "
            f"--at gives it; inputs are: {name_list(names)}"
        )
    return {n: float(fixed[n]) for n in names if n not in given}


def _check_header(compiled: Compiled, header: Sequence[str], where: str) -> list[str | None]:
    """Each column's input name, or None for a column of a previous run's output
    (value, d_NAME, error), which is skipped. Unknown or repeated names are errors."""
    names = list(compiled.inputs)
    used: list[str | None] = []
    seen: set[str] = set()
    for column in header:
        if column in compiled.graph.inputs:
            if column in seen:
                raise InputError(f"{where}: the column {shorten(column)!r} appears twice")
            seen.add(column)
            used.append(column)
        elif column in OUTPUT_COLUMNS or (column.startswith("d_") and column[2:] in seen):
            used.append(None)
        else:
            raise InputError(
                f"{where}: the column {shorten(column)!r} is not an input; inputs are: "
                f"{name_list(names) if names else '(none)'}"
            )
    return used


def csv_blocks(
    compiled: Compiled,
    stream: IO[bytes],
    where: str,
    fixed: Mapping[str, float],
    overridden: Sequence[str] = (),
    path: str | None = None,
) -> Iterator[Block]:
    """Blocks of points from a CSV file with a header row (pyarrow's reader, streamed).

    With `path` (a file, not a pipe), pyarrow reads the file itself, past the header
    row: faster than through a Python stream."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = stream.readline()
    if not first.strip():
        raise InputError(
            f"{where} is empty: a CSV file needs a header row naming the inputs "
            f"({', '.join(compiled.inputs) or 'none'})",
            kind="io",
        )
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where}: the header row is not UTF-8 text", kind="io") from None
    try:
        header = [h.strip() for h in next(csv.reader([text]))]
    except csv.Error as err:  # a cell past Python's field limit (131,072 characters)
        raise InputError(f"{where}: the header row cannot be read ({err})", kind="io") from None
    used = _check_header(compiled, header, where)
    given = [h for h in used if h is not None]
    _refuse_both(given, overridden, where)
    constants = _fixed_columns(compiled, given, fixed, where)

    def unreadable(err: Exception, count: int) -> InputError:
        return InputError(
            f"{where}: not a CSV file this command can read after line {count + 1} "
            f"({shorten(str(err), 200)})",
            kind="io",
        )

    try:
        reader = pacsv.open_csv(
            stream if path is None else path,
            read_options=pacsv.ReadOptions(
                column_names=[f"c{k}" for k in range(len(header))],
                block_size=CSV_BLOCK_BYTES,
                skip_rows=0 if path is None else 1,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"c{k}": pa.string() for k in range(len(header))},
                include_columns=[f"c{k}" for k, h in enumerate(used) if h is not None],
            ),
        )
    except pa.ArrowInvalid as err:
        if "Empty CSV file" in str(err):
            return  # a header and no rows: no points
        raise unreadable(err, 1) from None
    index_of = {h: k for k, h in enumerate(used) if h is not None}
    count = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as err:
            raise unreadable(err, count + 1) from None
        n = batch.num_rows
        if n == 0:
            continue
        columns = []
        bad: BadCell | None = None  # the error at the first bad cell of this batch
        for name in compiled.inputs:
            if name in constants:
                columns.append(np.full(n if bad is None else bad.row, constants[name]))
                continue
            raw = batch.column(f"c{index_of[name]}")
            if bad is not None:
                raw = raw.slice(0, bad.row)
            try:
                columns.append(_to_floats(raw, name, where, count))
            except BadCell as err:
                bad = err
                columns = [c[: err.row] for c in columns]
                columns.append(_to_floats(raw.slice(0, err.row), name, where, count))
        if bad is not None:  # the rows before the bad line are written, then the run stops
            if bad.row:
                yield Block(columns, count, np.arange(count + 2, count + 2 + len(columns[0])))
            raise bad
        lines = np.arange(count + 2, count + 2 + n)
        yield Block(columns, count, lines)
        count += n


class BadCell(InputError):
    """A CSV cell that is not a number; `row` is its row in the batch read."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.row = row


def _to_floats(raw: Any, name: str, where: str, before: int) -> Any:
    """A column of strings as float64; a cell that is not a number is an error naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(raw)  # " 2" after a comma and a space
    try:
        return pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    lo, hi = 0, len(trimmed)  # the first bad cell, by halving: the cast runs in C
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(trimmed.slice(lo, mid - lo), pa.float64())
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
    cell = trimmed[lo].as_py()
    what = "is empty" if not cell else f"is {shorten(cell, 40)!r}, not a number"
    raise BadCell(f"{where}, line {before + lo + 2}, column {name}: the cell {what}", lo)


def _refuse_both(given: Sequence[str], overridden: Sequence[str], where: str) -> None:
    both = [n for n in given if n in overridden]
    if both:
        raise InputError(
            f"{name_list(both)} is given both by {where} and by --at: give each input once"
        )


def jsonl_blocks(
    compiled: Compiled,
    stream: IO[bytes],
    where: str,
    fixed: Mapping[str, float],
    overridden: Sequence[str] = (),
) -> Iterator[Block]:
    """Blocks of points from JSON Lines: one object of input values a line (or a
    previous run's output line, whose "at" object is the point)."""
    names = list(compiled.inputs)
    known = compiled.graph.inputs
    checked_keys: set[frozenset[str]] = set()
    rows: list[list[float]] = []
    lines: list[int] = []
    count = 0
    line_no = 0
    try:
        for raw in stream:
            line_no += 1
            text = raw.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except (ValueError, UnicodeDecodeError) as err:
                reason = getattr(err, "msg", None) or "not UTF-8 text"
                raise InputError(f"{where}, line {line_no}: not a JSON object ({reason})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{where}, line {line_no}: expected a JSON object of input values")
            if len(obj) == 1 and isinstance(obj.get("check"), dict):
                continue  # the last line of a previous run's output
            if isinstance(obj.get("at"), dict):
                obj = obj["at"]
            keys = frozenset(obj)
            if keys not in checked_keys:
                unknown = [k for k in obj if k not in known]
                if unknown:
                    raise InputError(
                        f"{where}, line {line_no}: {name_list(unknown)} "
                        f"{'is not an input' if len(unknown) == 1 else 'are not inputs'}; "
                        f"inputs are: {name_list(names) if names else '(none)'}"
                    )
                _refuse_both(list(obj), overridden, f"{where}, line {line_no}")
                missing = [n for n in names if n not in obj and n not in fixed]
                if missing:
                    raise InputError(
                        f"{where}, line {line_no}: missing a value for {name_list(missing)} "
                        f"(give it on the line or with --at); inputs are: {name_list(names)}"
                    )
                checked_keys.add(keys)
            row = []
            for n in names:
                v = obj[n] if n in obj else fixed[n]
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise InputError(
                        f"{where}, line {line_no}, {n}: "
                        f"{shorten(json.dumps(v), 40)} is not a number"
                    )
                try:
                    row.append(float(v))
                except OverflowError:
                    row.append(math.inf)  # an integer past the floats: not finite, that row fails
            rows.append(row)
            lines.append(line_no)
            if len(rows) == BLOCK_ROWS:
                yield _rows_block(rows, names, count, lines)
                count += len(rows)
                rows, lines = [], []
    except InputError:  # a bad line stops the run: the rows before it are written first
        if rows:
            yield _rows_block(rows, names, count, lines)
        raise
    if rows:
        yield _rows_block(rows, names, count, lines)


def _rows_block(rows: list[list[float]], names: list[str], first: int, lines: list[int]) -> Block:
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return Block([table[:, k].copy() for k in range(len(names))], first, np.array(lines))


@dataclass(frozen=True)
class Grid:
    """`--grid NAME=START:STOP:N`: N points from START to STOP, both included."""

    name: str
    start: float
    stop: float
    n: int


def parse_grid(text: str) -> Grid:
    """`x=-7:7:200` -> Grid("x", -7.0, 7.0, 200); an error names what is wrong."""
    from backprop.engine.point import parse_at

    name, eq, rest = text.partition("=")
    parts = rest.split(":")
    if not eq or len(parts) != 3 or not name.strip():
        raise InputError(f"--grid expects NAME=START:STOP:N, such as x=-7:7:200, got {text!r}")
    try:
        (_, start), (_, stop) = parse_at(
            [f"{name.strip()}={parts[0]}", f"{name.strip()}={parts[1]}"]
        )
    except InputError as err:  # parse_at's messages say --at: this value came from --grid
        raise InputError(err.message.replace("--at value", "--grid value", 1)) from None
    count = parts[2].strip()
    if not count.isascii() or not count.isdigit() or int(count[:12] or 0) < 1:
        raise InputError(f"--grid {name.strip()}: N must be a whole number of points, 1 or more")
    n = int(count[:12]) if len(count) <= 12 else MAX_GRID_POINTS + 1
    return Grid(name.strip(), start, stop, n)


def grid_axis(grid: Grid) -> Any:
    """The grid's N points, both ends included (np.linspace), also where STOP - START
    overflows (-1e308:1e308): then each point is a weighted mean of the two ends."""
    if math.isfinite(grid.stop - grid.start):
        return np.linspace(grid.start, grid.stop, grid.n)
    t = np.linspace(0.0, 1.0, grid.n)
    axis = grid.start * (1.0 - t) + grid.stop * t
    axis[-1] = grid.stop if grid.n > 1 else grid.start
    axis[0] = grid.start
    return axis


def grid_size(grids: Sequence[Grid]) -> int:
    total = 1
    for g in grids:
        total *= g.n
    return total


def grid_blocks(
    compiled: Compiled,
    grids: Sequence[Grid],
    fixed: Mapping[str, float],
    overridden: Sequence[str] = (),
) -> Iterator[Block]:
    """The Cartesian product of the grids, the first grid varying slowest, in blocks."""
    names = [g.name for g in grids]
    seen: set[str] = set()
    for g in grids:
        if g.name not in compiled.graph.inputs:
            raise InputError(
                f"--grid {shorten(g.name)}: not an input; inputs are: "
                f"{name_list(list(compiled.inputs)) if compiled.inputs else '(none)'}"
            )
        if g.name in seen:
            raise InputError(f"--grid {shorten(g.name)} is given twice")
        seen.add(g.name)
    _refuse_both(names, overridden, "--grid")
    total = grid_size(grids)
    if total > MAX_GRID_POINTS:
        raise InputError(
            f"the grid has {total:,} points, over the limit of {MAX_GRID_POINTS:,}: "
            "use fewer points, or write them to a file and use --points",
            kind="limit",
        )
    constants = _fixed_columns(compiled, names, fixed, "--grid")
    axes = {g.name: grid_axis(g) for g in grids}
    shape = tuple(g.n for g in grids)
    for first in range(0, total, BLOCK_ROWS):
        index = np.arange(first, min(total, first + BLOCK_ROWS))
        n = len(index)
        positions = np.unravel_index(index, shape)
        by_name = {g.name: axes[g.name][p] for g, p in zip(grids, positions)}
        columns = [
            by_name[name] if name in by_name else np.full(n, constants[name])
            for name in compiled.inputs
        ]
        yield Block(columns, first)


# --- writers -----------------------------------------------------------------------------


class Writer:
    """Rows out, in one of the two formats."""

    def write(self, rows: Rows) -> None:
        raise NotImplementedError

    def check(self, document: Mapping[str, Any]) -> None:
        """The check's summary as the last record (JSON Lines only)."""

    def close(self) -> None:
        pass


def _texts(column: Any) -> list[str]:
    """Each number as JSON: Python's repr (the shortest text that reads back to the
    same float), null where it is inf or nan."""
    texts = list(map(repr, column.tolist()))
    finite = np.isfinite(column)
    if not finite.all():
        for r in np.flatnonzero(~finite):
            texts[r] = "null"
    return texts


class JsonLinesWriter(Writer):
    """`{"at": {...}, "value": v, "gradients": {...}}` or `{"at": {...}, "error": {...}}`."""

    def __init__(self, sink: IO[bytes], names: Sequence[str]) -> None:
        self.sink = sink
        self.keys = [json.dumps(n) for n in names]

    def write(self, rows: Rows) -> None:
        keys = self.keys
        at = [_texts(c) for c in rows.block.columns]
        numbers = [_texts(rows.value), *[_texts(g) for g in rows.gradients]]
        template = (
            '{"at": {' + ", ".join(f"{k}: %s" for k in keys) + '}, "value": %s, "gradients": {'
            + ", ".join(f"{k}: %s" for k in keys) + "}}\n"
        )  # fmt: skip
        lines = [template % row for row in zip(*at, *numbers)]
        for r, err in rows.errors.items():
            point = ", ".join(f"{k}: {c[r]}" for k, c in zip(keys, at))
            detail = json.dumps({"kind": err.kind, "message": err.message}, ensure_ascii=False)
            lines[r] = f'{{"at": {{{point}}}, "error": {detail}}}\n'
        self.sink.write("".join(lines).encode("utf-8"))

    def check(self, document: Mapping[str, Any]) -> None:
        text = json.dumps({"check": document}, allow_nan=False, ensure_ascii=False)
        self.sink.write((text + "\n").encode("utf-8"))


class CsvWriter(Writer):
    """Columns: the inputs, value, d_NAME per input, error (empty when fine); pyarrow's writer."""

    def __init__(self, sink: IO[bytes], names: Sequence[str]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.pa = pa
        fields = [pa.field(n, pa.float64()) for n in names]
        fields.append(pa.field("value", pa.float64()))
        fields += [pa.field(f"d_{n}", pa.float64()) for n in names]
        fields.append(pa.field("error", pa.string()))
        self.schema = pa.schema(fields)
        self.writer = pacsv.CSVWriter(
            sink, self.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
        )

    def write(self, rows: Rows) -> None:
        pa = self.pa
        arrays = [pa.array(c) for c in rows.block.columns]
        failed = rows.failed
        arrays.append(pa.array(rows.value, mask=failed if failed.any() else None))
        for g in rows.gradients:
            finite = np.isfinite(g)
            arrays.append(pa.array(g, mask=None if finite.all() else ~finite))
        if rows.errors:
            texts: list[str | None] = [None] * len(failed)  # an empty cell where the row is fine
            for r, err in rows.errors.items():
                texts[r] = err.message
            arrays.append(pa.array(texts, pa.string()))
        else:
            arrays.append(pa.nulls(len(failed), pa.string()))
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


class NullWriter(Writer):
    """No rows written (the terminal summary alone)."""

    def write(self, rows: Rows) -> None:
        pass


# --- the run -----------------------------------------------------------------------------


@dataclass
class ColumnRange:
    low: float = math.inf
    high: float = -math.inf
    non_finite: int = 0  # gradients that are inf or nan (values never are)

    def add(self, x: Any, ok: Any) -> None:
        finite = ok & np.isfinite(x)
        self.non_finite += int(ok.sum() - finite.sum())
        if finite.any():
            chosen = x[finite]
            self.low = min(self.low, float(chosen.min()))
            self.high = max(self.high, float(chosen.max()))


@dataclass
class Summary:
    """What the terminal summary shows; filled block by block."""

    names: tuple[str, ...]
    points: int = 0
    failed: int = 0
    first: list[tuple[list[float], float | None, list[float], str]] = field(default_factory=list)
    errors: list[tuple[int, int | None, str]] = field(default_factory=list)  # (point, line, msg)
    value: ColumnRange = field(default_factory=ColumnRange)
    gradients: dict[str, ColumnRange] = field(default_factory=dict)
    seconds: float = 0.0
    ranges: bool = True  # keep each column's range (the terminal summary shows them)

    def add(self, rows: Rows) -> None:
        n = len(rows.value)
        self.points += n
        self.failed += len(rows.errors)
        if self.ranges:
            ok = ~rows.failed
            self.value.add(rows.value, ok)
            for name, g in zip(self.names, rows.gradients):
                self.gradients.setdefault(name, ColumnRange()).add(g, ok)
        for r in range(min(n, FIRST_ROWS - len(self.first))):
            err = rows.errors.get(r)
            self.first.append(
                (
                    [float(c[r]) for c in rows.block.columns],
                    None if err else float(rows.value[r]),
                    [float(g[r]) for g in rows.gradients],
                    err.message if err else "",
                )
            )
        for r, err in sorted(rows.errors.items()):
            if len(self.errors) >= ERROR_ROWS:
                break
            line = None if rows.block.lines is None else int(rows.block.lines[r])
            self.errors.append((rows.block.first + r, line, err.message))


def evaluate_rows(compiled: Compiled, block: Block) -> Rows:
    """One block through the numpy interpreter, with the scalar engine's error for
    each point that failed."""
    n = len(block)
    value, grads, failed = compiled.evaluate_block(block.columns, n)
    errors: dict[int, BackpropError] = {}
    for r in np.flatnonzero(failed):
        point = {name: float(c[r]) for name, c in zip(compiled.inputs, block.columns)}
        err = compiled.error(point)
        assert err is not None  # evaluate_block keeps failed only where the scalar engine fails
        errors[int(r)] = err
    return Rows(block, value, grads, failed, errors)


def run(
    compiled: Compiled,
    blocks: Iterator[Block],
    writer: Writer,
    summary: Summary,
    on_rows: Callable[[Rows], None] | None = None,
) -> Summary:
    """Evaluate and write every block; `on_rows` sees each (the check, a progress bar)."""
    started = time.perf_counter()
    for block in blocks:
        rows = evaluate_rows(compiled, block)
        writer.write(rows)
        summary.add(rows)
        if on_rows is not None:
            on_rows(rows)
    summary.seconds = time.perf_counter() - started
    return summary
