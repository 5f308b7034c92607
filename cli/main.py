"""The `backprop` command line: read input, call the engine, render, exit.

No mathematics here (a test checks that this package imports neither math
nor sympy). Exit status: 0 success, 1 the cross-check found a wrong number
(or, with --strict, proved less than every gradient), 2 bad input of any
kind, 3 an internal error (a bug).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from backprop import __version__
from backprop.parser import BackpropError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_BUG = 0, 1, 2, 3
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

\b
Exit status: 0 success, 1 the SymPy cross-check found a wrong gradient
(mismatch, or inaccurate: float rounding lost it; with --strict, also
n/a, partial or not checked), 2 bad input (syntax, unknown name, missing
value, domain error such as log(-1)), 3 internal error.
"""


class _Failed(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class ProgramCommand(click.Command):
    """A command taking a PROGRAM: a program that starts with '-' gets a hint about '--'."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            if err.option_name[1:2] != "-":  # "-x**2", not a mistyped "--option"
                err.message = (
                    f"no such option {err.option_name!r}; a program that starts with '-' "
                    f"goes after '--', as in: backprop {ctx.info_name} --at x=1 -- \"-x**2\""
                )
            raise


def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """FloatRange lets nan through (every comparison with nan is false)."""
    if value != value:
        raise click.BadParameter(f"{value} is not a number.", param=param)
    return value


def plain_output() -> bool:
    """Plain text (no colour, no box characters) unless stdout is a colour terminal."""
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
        return program
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
            raise BackpropError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BackpropError(
            f"{where} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None


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
    func = click.option("--traceback", is_flag=True, hidden=True)(func)
    return func


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
    """Map the error family to exit 2 with one message, a bug to exit 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        traceback = kwargs.get("traceback", False)
        source: list[str | None] = [None]
        kwargs["source_box"] = source
        try:
            code = func(*args, **kwargs)
        except BackpropError as err:
            from backprop.cli.render import render_error

            click.echo(render_error(source[0], err), err=True, nl=False)
            code = EXIT_BAD_INPUT
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _silence_stdout()
            code = EXIT_OK
        except Exception as err:
            if traceback:
                raise
            click.echo(
                f"backprop: internal error ({type(err).__name__}: {err}); this is a bug, "
                "please report it with the command you ran (--traceback shows the details)",
                err=True,
            )
            code = EXIT_BUG
        sys.exit(code)

    return wrapper


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

    elsewhere = {"explain": "backprop.cli.explain", "graph": "backprop.cli.graph"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.elsewhere})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.elsewhere and cmd_name not in self.commands:
            importlib.import_module(self.elsewhere[cmd_name])  # it registers itself on `cli`
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="backprop-cli", prog_name="backprop")
def cli() -> None:
    """backprop: forward and backward passes over an expression, shown node by node
    and cross-checked against SymPy's symbolic derivatives.

    \b
      backprop eval "(x+y)*z" --at x=-2,y=5,z=-4
      backprop eval -f samples/perceptron.bp --json

    Run 'backprop COMMAND --help' for a command's options and examples.
    """


@cli.command("eval", cls=ProgramCommand, epilog=EVAL_EXAMPLES)
@program_options
@click.option("--json", "as_json", is_flag=True, help="Write one strict JSON document to stdout.")
@click.option(
    "--no-check", is_flag=True, help="Skip the SymPy cross-check (SymPy is not imported)."
)
@click.option(
    "--check-seconds",
    # At most a day: the timer under the check cannot hold inf or 1e10 s (exit 3 before).
    type=click.FloatRange(min=0.0, min_open=True, max=86_400.0),
    callback=_not_nan,
    metavar="SECONDS",
    default=5.0,
    show_default=True,
    help="Budget for the cross-check, in seconds of CPU time; what it cannot reach is "
    "reported as not checked (the README says how it is spent).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 unless every gradient is checked and ok (n/a, partial and not checked "
    "count as failures too); for CI jobs that want everything proven.",
)
@precision_option(
    None, "Significant digits in the table (default: every digit). JSON is always in full."
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
    precision: int | None,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Evaluate PROGRAM at a point: every node's value and gradient, checked by SymPy.

    PROGRAM is an expression or statements separated by ';' or newlines, such
    as "h = tanh(w*x + b); h*h". Inputs are the names read before they are
    assigned; give each a value with --at.
    """
    from backprop.engine import evaluate

    if strict and no_check:
        raise click.UsageError(
            "--strict asks for every gradient proven; it cannot go with --no-check"
        )
    source, point = load(program, path, at, source_box)
    result = evaluate(source, point, check=not no_check, check_seconds=check_seconds)
    from backprop.cli import render

    if as_json:
        click.echo(render.render_json(result), nl=False)
    elif plain_output() or len(result.nodes) > render.RICH_ROW_LIMIT:
        click.echo(render.render_plain(result, precision), nl=False)
    else:
        from rich.console import Console

        Console(highlight=False, emoji=False, markup=False).print(
            render.render_rich(result, precision)
        )
    return check_exit_code(result.check.status, strict)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="backprop")
