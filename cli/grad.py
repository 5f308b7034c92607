"""`backprop grad`: the gradient as a program, in backprop's language, LaTeX, Python or SymPy."""

from __future__ import annotations

import json

import click
from backprop.cli.main import ProgramCommand, cli, handle_errors, read_program

GRAD_EXAMPLES = """
Examples:

\b
  backprop grad -f samples/perceptron.bp                    # every input's adjoint, d_NAME = ...
  backprop grad "x*sin(x)" --wrt x | backprop eval - --at x=0.3   # its value is d/dx at 0.3
  backprop grad "x*sin(x)" --wrt x | backprop grad - --wrt x      # the second derivative
  backprop grad "tanh(x)" --order 6 | backprop eval - --at x=0.5  # the 6th derivative at 0.5
  backprop grad -f samples/staged.bp --format latex
  backprop grad "x*sin(x)/(1+x^2)" --simplify               # SymPy simplifies it
"""


@cli.command("grad", cls=ProgramCommand, epilog=GRAD_EXAMPLES)
@click.argument("program", required=False)
@click.option(
    "-f", "--file", "path", metavar="FILE", help="Read the program from FILE ('-' for stdin)."
)
@click.option(
    "--wrt",
    multiple=True,
    metavar="NAME",
    help="The input to differentiate by (repeatable; default: every input). "
    "The printed program's output is the derivative by the last one.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["bp", "latex", "python", "sympy"]),
    default="bp",
    show_default=True,
    help="bp: a program in backprop's language; latex: equations; python: a module with "
    "gradient(...); sympy: SymPy expressions.",
)
@click.option(
    "--simplify",
    is_flag=True,
    help="Let SymPy simplify each derivative (5 s in all; says when it gave up).",
)
@click.option(
    "--order",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    metavar="N",
    help="The N-th derivative in one input (--wrt), by applying the transform N times; "
    "the header says how many nodes its graph has.",
)
@click.option("--json", "as_json", is_flag=True, help="Write one JSON document, a text per input.")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an internal error.")
@handle_errors
def grad_command(
    program: str | None,
    path: str | None,
    wrt: tuple[str, ...],
    fmt: str,
    simplify: bool,
    order: int,
    as_json: bool,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Print the gradient of PROGRAM as a program: d out/d NAME for each input.

    The bp format reads back: its statements compute the forward values and
    the adjoints (d_NAME = ...), it keeps the program's '# at:' line, and its
    output is the derivative by the last --wrt input, so 'backprop eval' on it
    gives eval's gradient, and 'backprop grad' on it the second derivative.
    """
    from backprop.engine.gradient import gradient_program

    if simplify and fmt == "python":
        raise click.UsageError("--simplify works with --format bp, latex or sympy")
    source = read_program(program, path)
    source_box[0] = source
    result = gradient_program(source, wrt, fmt, simplify=simplify, order=order)
    if as_json:
        document = {"wrt": list(result.wrt), "derivatives": result.derivatives, "format": fmt}
        if order != 1:
            document["order"] = order
            document["nodes"] = result.sizes[-1]
        if result.notes:
            document["notes"] = list(result.notes)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(result.text, nl=False)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    return 0
