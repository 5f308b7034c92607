"""The `backprop` command line: read input, call the engine, render, exit.

No mathematics here (a test checks that this package imports neither math
nor sympy). Exit status: 0 success, 1 the cross-check found a wrong number
(or, with --strict, proved less than every gradient), 2 bad input of any
kind, 3 an internal error (a bug), 130 interrupted (Ctrl-C). With --json an
error also writes `{"error": {...}}` on stdout.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import click
from backprop import __version__
from backprop.parser import BackpropError, shorten

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
JSON_FLAG = "backprop.json"  # ctx.meta key: --json was among the command's arguments

# Check statuses that mean a wrong number: a wrong rule (mismatch) or float
# rounding that lost the gradient (inaccurate).
WRONG_NUMBER = ("mismatch", "inaccurate")


def check_exit_code(status: str, strict: bool = False) -> int:
    """The exit code for a check status: 1 for a wrong number; with `strict`,
    for anything short of ok (n/a, partial, not checked, skipped)."""
    if status in WRONG_NUMBER or (strict and status != "ok"):
        return EXIT_MISMATCH
    return EXIT_OK


EVAL_EXAMPLES = """
Examples:

\b
  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4
  backprop eval "1/(1+exp(-(w0*x0+w1*x1+w2)))" --at w0=2,x0=-1 --at w1=-3,x1=-2,w2=-3
  backprop eval -f samples/perceptron.bp            # the file's "# at:" line gives the point
  echo "x*y" | backprop eval - --at x=1,y=2 --json
  backprop eval --at x=1 -- "-x**2"                 # a program starting with '-' goes after --
  backprop eval "x*sin(y)" --grid x=0:1:5 --grid y=-1:1:3 --format csv    # 15 points
  backprop eval -f samples/perceptron.bp --points data.csv -o out.csv       # a row per point
  backprop eval -f samples/perceptron.bp --fd       # a finite difference beside SymPy's value
  backprop eval "x^2*y" --at x=1,y=2 --direction x=1,y=1       # forward mode: a tangent column
  backprop eval "u = x*y; v = x + y" --at x=1,y=2 --output u --output v --json

\b
Exit status: 0 success, 1 the SymPy cross-check found a wrong gradient
(mismatch, or inaccurate: float rounding lost it; with --strict, also
n/a, partial or not checked; with --fd, a finite difference that calls
a gradient wrong), 2 bad input (syntax, unknown name, missing
value, domain error such as log(-1)), 3 internal error, 130 interrupted.
With --json, an error also writes {"error": {"kind": ..., "message": ...,
"span": ...}} on stdout.
"""


class ProgramCommand(click.Command):
    """A command taking a PROGRAM: a program that starts with '-' gets a hint about '--'."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        # --traceback is for bug reports: list it last, before --help.
        params = super().get_params(ctx)
        return sorted(params, key=lambda p: 2 if "--help" in p.opts else p.name == "traceback")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Known before click parses anything, so that a usage error can be JSON too.
        options = args[: args.index("--")] if "--" in args else args
        speaks_json = any(param.name == "as_json" for param in self.params)
        ctx.meta[JSON_FLAG] = speaks_json and "--json" in options
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            if err.option_name[1:2] != "-":  # "-x**2", not a mistyped "--option"
                at = " --at x=1" if any(p.name == "at" for p in self.params) else ""
                err.message = (
                    f"no such option {shorten(err.option_name, 40)!r}; a program that starts "
                    f"with '-' goes after '--', as in: backprop {ctx.info_name}{at} -- "
                    '"-x**2"'
                )
            raise


def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """FloatRange lets nan through (every comparison with nan is false)."""
    if value != value:
        raise click.BadParameter(f"{value} is not a number.", param=param)
    return value


def plain_output() -> bool:
    """Plain text (no colour, no box characters) unless stdout is a colour terminal.

    `--no-color` (on the command being run) counts as NO_COLOR set.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get("backprop.no_color"):
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return True
    return not sys.stdout.isatty()


def read_program(program: str | None, path: str | None) -> str:
    """The program text from the argument, a file, or standard input ('-')."""
    if program is not None and path is not None:
        raise click.UsageError("give the program either as an argument or with -f, not both")
    if program is None and path is None:
        raise click.UsageError("give a PROGRAM, -f FILE, or - to read the program from stdin")
    if program is not None and program != "-":
        return _decoded_argument(program)
    if program == "-" or path == "-":
        data = sys.stdin.buffer.read()
        where = "standard input"
    else:
        assert path is not None
        where = path
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as err:
            raise BackpropError(
                f"cannot read {shorten(path, tail=True)}: {err.strerror or err}", kind="io"
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BackpropError(
            f"{shorten(where, tail=True)} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None


def _decoded_argument(program: str) -> str:
    """The program argument, refused if it held bytes that are not UTF-8.

    Python decodes argv with surrogateescape: a stray byte (0xff in a comment)
    becomes a lone surrogate, which would reach stdout as invalid UTF-8.
    """
    try:
        program.encode("utf-8")
    except UnicodeEncodeError as err:
        byte = program[err.start].encode("utf-8", "surrogateescape")
        raise BackpropError(
            f"the program argument is not UTF-8 text (byte 0x{byte.hex()} at character "
            f"{err.start + 1}); write it in UTF-8"
        ) from None
    return program


def program_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """PROGRAM, -f and --at, shared by the commands that evaluate a program."""
    func = click.option(
        "--at",
        "at",
        multiple=True,
        metavar="NAME=VALUE",
        help="Value of an input; repeatable and comma-separated (x=1,y=2). "
        "Overrides a sample's '# at:' line.",
    )(func)
    func = click.option(
        "-f", "--file", "path", metavar="FILE", help="Read the program from FILE ('-' for stdin)."
    )(func)
    func = click.argument("program", required=False)(func)
    func = click.option(
        "--no-color",
        is_flag=True,
        expose_value=False,
        callback=_no_color,
        help="Plain text, as with the NO_COLOR variable set: no colour, no box characters.",
    )(func)
    func = click.option(
        "--traceback",
        is_flag=True,
        help="On an internal error (exit 3), show Python's traceback (for a bug report).",
    )(func)
    return func


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Kept on the context for plain_output(), so the commands need no extra argument.
    if value:
        ctx.meta["backprop.no_color"] = True


def check_seconds_option(help: str) -> Callable[[Any], Any]:
    """--check-seconds SECONDS, SymPy's budget in CPU time, for every command with a check."""
    return click.option(
        "--check-seconds",
        # At most a day, and not nan: the timer under the check cannot hold inf,
        # 1e10 or nan seconds (an internal error, exit 3, before).
        type=click.FloatRange(min=0.0, min_open=True, max=86_400.0),
        callback=_not_nan,
        metavar="SECONDS",
        default=5.0,
        show_default=True,
        help=help,
    )


def digits_option(more: str) -> Callable[[Any], Any]:
    """--digits N: N-digit arithmetic (mpmath), for eval, explain and grad."""
    return click.option(
        "--digits",
        type=click.IntRange(16, 1000),
        metavar="N",
        help=f"Run the passes in N significant digits (16 to 1000; mpmath). {more}",
    )


def points_options(verb: str) -> Callable[[Any], Any]:
    """--points FILE, --points-format and --grid, for eval and check (read by cli/points.py)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--grid",
            multiple=True,
            metavar="NAME=START:STOP:N",
            help=f"{verb} at N points from START to STOP, both included; repeatable (the "
            "Cartesian product). Inputs not on the grid come from --at.",
        )(func)
        func = click.option(
            "--points-format",
            type=click.Choice(["csv", "jsonl"]),
            help="The format of --points FILE (default: from its extension, or its first byte).",
        )(func)
        return click.option(
            "--points",
            metavar="FILE",
            help=f"{verb} at every point of FILE: CSV with a header of input names, or JSON "
            "Lines of objects ('-' for stdin). Inputs not in the file come from --at.",
        )(func)

    return decorate


def precision_option(default: int | None, help: str) -> Callable[[Any], Any]:
    """--precision DIGITS, 1 to 17 significant digits (17 round-trip a float)."""
    return click.option(
        "--precision",
        type=click.IntRange(1, 17),
        metavar="DIGITS",
        default=default,
        show_default=default is not None,
        help=help,
    )


def handle_errors(func: Callable[..., int]) -> Callable[..., None]:
    """Map the error family to exit 2 with one message, a bug to exit 3; with --json,
    the error is also a JSON document on stdout."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        traceback = kwargs.get("traceback", False)
        as_json = kwargs.get("as_json", False)
        source: list[str | None] = [None]
        kwargs["source_box"] = source
        try:
            code = func(*args, **kwargs)
        except BackpropError as err:
            from backprop.cli.render import render_error

            if as_json:
                write_error_json(err.kind, err.message, err.span)
            click.echo(render_error(source[0], err), err=True, nl=False)
            code = EXIT_BAD_INPUT
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _silence_stdout()
            code = EXIT_OK
        except OSError as err:  # a write failed (a full disk): the system's trouble, not a bug
            if traceback:
                raise
            where = f" ({err.filename})" if err.filename else ""
            click.echo(f"error: input or output failed{where}: {err.strerror or err}", err=True)
            with suppress(OSError, ValueError):  # no file descriptor when run in process
                _silence_stdout()  # what is still buffered would fail again at exit
            code = EXIT_BAD_INPUT
        except Exception as err:
            if traceback:
                raise
            message = (
                f"internal error ({type(err).__name__}: {shorten(str(err), 200)}); this is a "
                "bug, please report it with the command you ran (--traceback shows the details)"
            )
            if as_json:
                write_error_json("internal", message, None)
            click.echo(f"backprop: {message}", err=True)
            code = EXIT_BUG
        sys.exit(code)

    return wrapper


def write_error_json(kind: str, message: str, span: Any) -> None:
    """The error as one JSON document on stdout (schema/error.schema.json)."""
    from backprop.cli.render import render_error_json

    write_whole(render_error_json(kind, message, span))


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C until the block is done: it then arrives as usual.

    A handler that only takes note, rather than a blocked signal: with another
    thread alive (pyarrow's, matplotlib's) the kernel may hand the signal to
    that thread, and Python would still raise it here, mid-write.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives Python's signals
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if arrived:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.default_int_handler:
                raise KeyboardInterrupt


def write_whole(text: str | Iterable[str | bytes]) -> None:
    """Write `text` (or its pieces, in order: a long document is not held whole; a
    piece may be its UTF-8 bytes already) to stdout in full, as strict UTF-8: an
    interrupt while writing waits until the last byte is out, so a script never
    reads half a document."""
    pieces = [text] if isinstance(text, str) else text
    stream = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    with _interrupts_held():
        for piece in pieces:
            # Strict UTF-8: a lone surrogate is a bug, not output.
            data = piece if isinstance(piece, bytes) else piece.encode("utf-8")
            if stream is None:  # a text-only stdout (an embedding program's)
                sys.stdout.write(data.decode("utf-8"))
            else:
                stream.write(data)
        if stream is None:
            sys.stdout.flush()
        else:
            stream.flush()


def _silence_stdout() -> None:
    # The reader went away (`| head`): stop writing, leave quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def load(
    program: str | None, path: str | None, at: tuple[str, ...], box: list[str | None]
) -> tuple[str, dict[str, float]]:
    """The program text and its point: the sample's '# at:' values, then --at."""
    from backprop.engine.point import defaults, merge, parse_at

    source = read_program(program, path)
    box[0] = source
    return source, merge(defaults(source), parse_at(at))


class _Commands(click.Group):
    """The command group; a command kept in its own module is imported when it is named.

    Start-up time matters (`backprop eval` should cost little more than
    importing click), and `eval` needs neither explain's nor graph's module.
    """

    elsewhere = {
        "explain": "backprop.cli.explain",
        "graph": "backprop.cli.graph",
        "grad": "backprop.cli.grad",
        "check": "backprop.cli.check",
        "hessian": "backprop.cli.hessian",
        "jacobian": "backprop.cli.jacobian",
        "plot": "backprop.cli.plot",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.elsewhere})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.elsewhere and cmd_name not in self.commands:
            importlib.import_module(self.elsewhere[cmd_name])  # it registers itself on `cli`
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a usage error is also JSON with --json, and Ctrl-C exits 130.

        Click would turn Ctrl-C into "Aborted!" and exit 1, the code for "the
        check disagrees"; catching it here, inside click's main, prevents that.
        """
        try:
            return super().invoke(ctx)
        except click.ClickException as err:
            err.message = shorten(err.message, 300)  # click quotes arguments in full
            if ctx.meta.get(JSON_FLAG):  # meta is shared with the command's context
                write_error_json("usage", err.format_message(), None)
            raise
        except KeyboardInterrupt:
            click.echo("backprop: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="backprop-cli", prog_name="backprop")
def cli() -> None:
    """backprop: forward and backward passes over an expression, shown node by node
    and cross-checked against SymPy's symbolic derivatives.

    \b
    Examples:
      backprop eval "(x+y)*z" --at x=-2,y=5,z=-4        # the table of values and gradients
      backprop explain -f samples/perceptron.bp         # the passes in words, gate by gate
      backprop graph "x*x + x"                          # the graph as a tree
      backprop eval -f samples/perceptron.bp --json     # one JSON document, for scripts

    Run 'backprop COMMAND --help' for a command's options and examples.
    """


@cli.command("eval", cls=ProgramCommand, epilog=EVAL_EXAMPLES)
@program_options
@click.option("--json", "as_json", is_flag=True, help="Write one strict JSON document to stdout.")
@click.option(
    "--no-check", is_flag=True, help="Skip the SymPy cross-check (SymPy is not imported)."
)
@check_seconds_option(
    "Budget for the cross-check, in seconds of CPU time; what it cannot reach is "
    "reported as not checked (the README says how it is spent)."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 unless every gradient is checked and ok (n/a, partial and not checked "
    "count as failures too); for CI jobs that want everything proven.",
)
@digits_option("JSON adds value_exact and grad_exact as decimal strings.")
@click.option(
    "--fd",
    is_flag=True,
    help="Add a finite difference for every input, a third opinion beside SymPy's "
    "(fourth-order central; no SymPy needed).",
)
@click.option(
    "--direction",
    multiple=True,
    metavar="NAME=VALUE",
    help="Forward mode: every node's derivative along this direction of the inputs "
    "(x=1,y=0; missing names are 0), a tangent column, and the directional derivative.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="NAME",
    help="Name an assigned statement as an output (repeatable): each gets its gradients; "
    "the table shows the last one.",
)
@precision_option(
    None, "Significant digits in the table (default: every digit). JSON is always in full."
)
@points_options("Evaluate")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "summary"]),
    help="With --points or --grid: one JSON object a line, CSV, or a readable summary "
    "(the default on a terminal; jsonl when piped).",
)
@click.option(
    "-o",
    "output",
    metavar="FILE",
    help="With --points or --grid: write the rows to FILE (--output NAME names an output).",
)
@handle_errors
def eval_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    as_json: bool,
    no_check: bool,
    check_seconds: float,
    strict: bool,
    digits: int | None,
    fd: bool,
    direction: tuple[str, ...],
    outputs: tuple[str, ...],
    precision: int | None,
    points: str | None,
    points_format: str | None,
    grid: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Evaluate PROGRAM at a point: every node's value and gradient, checked by SymPy.

    PROGRAM is an expression or statements separated by ';' or newlines, such
    as "h = tanh(w*x + b); h*h". Inputs are the names read before they are
    assigned; give each a value with --at. With --points FILE or --grid, at many
    points: one row each (README, "Many points").
    """
    from backprop.engine import evaluate

    if strict and no_check:
        raise click.UsageError(
            "--strict asks for every gradient proven; it cannot go with --no-check"
        )
    if points is not None or grid:
        if as_json or digits is not None or fd or direction or outputs:
            raise click.UsageError(
                "--points and --grid write rows (--format jsonl or csv): "
                "not with --json, --digits, --fd, --direction or --output NAME"
            )
        from backprop.cli.points import run_points

        return run_points(
            program=program,
            path=path,
            at=at,
            points=points,
            points_format=points_format,
            grids=grid,
            fmt=fmt,
            output=output,
            no_check=no_check,
            check_seconds=check_seconds,
            strict=strict,
            precision=precision,
            source_box=source_box,
        )
    if fmt is not None or output is not None or points_format is not None:
        raise click.UsageError("--format, -o and --points-format go with --points or --grid")
    source, point = load(program, path, at, source_box)
    along = None
    if direction:
        from backprop.engine.point import parse_direction

        along = parse_direction(direction)
    result = evaluate(
        source,
        point,
        check=not no_check,
        check_seconds=check_seconds,
        digits=digits,
        outputs=outputs,
        direction=along,
        fd=fd,
    )
    from backprop.cli import render
    from backprop.parser.parse import cycle_collector_paused

    # A large result makes millions of small objects and no cycles (see the pause).
    with cycle_collector_paused():
        if as_json:
            write_whole(render.json_chunks(result, as_bytes=True))
        elif plain_output() or len(result.nodes) > render.RICH_ROW_LIMIT:
            click.echo(render.render_plain(result, precision), nl=False)
        else:
            from rich.console import Console

            console = Console(highlight=False, emoji=False, markup=False)
            console.print(render.render_rich(result, precision, console.width))
    code = check_exit_code(result.check.status, strict)
    if result.fd is not None and any(d.verdict == "wrong" for d in result.fd.values()):
        code = EXIT_MISMATCH  # the finite difference disagrees with the engine
    return code


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="backprop")
