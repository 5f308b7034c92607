"""`backprop grad`: the gradient as a program, in backprop's language, LaTeX, Python or SymPy."""

from __future__ import annotations

import json

import click
from backprop.cli.main import ProgramCommand, cli, digits_option, handle_errors, read_program

GRAD_EXAMPLES = """
Examples:

\b
  backprop grad -f samples/perceptron.bp                    # every input's adjoint, d_NAME = ...
  backprop grad "x*sin(x)" --wrt x | backprop eval - --at x=0.3   # its value is d/dx at 0.3
  backprop grad "x*sin(x)" --wrt x | backprop grad - --wrt x      # the second derivative
  backprop grad -f samples/staged.bp --format latex
  backprop grad "x*sin(x)/(1+x^2)" --simplify               # SymPy simplifies it
  backprop grad "(1-cos(x))/x^2" --at x=1e-5 --digits 30    # and its value in 30 digits
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
    "--at",
    "at",
    multiple=True,
    metavar="NAME=VALUE",
    help="The point for --digits (repeatable, x=1,y=2); overrides the program's '# at:' line.",
)
@digits_option(
    "Evaluates each printed derivative at the point and adds its value as a comment "
    "(JSON: at, digits, values)."
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
    at: tuple[str, ...],
    digits: int | None,
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
    if at and digits is None:
        raise click.UsageError("--at gives the point for --digits; add --digits N")
    result = gradient_program(source, wrt, fmt, simplify=simplify)
    exact = None
    if digits is not None:
        from backprop.engine.gradient import exact_values
        from backprop.engine.point import defaults, merge, parse_at

        exact = exact_values(source, wrt, merge(defaults(source), parse_at(at)), digits)
    if as_json:
        document: dict = {"wrt": list(result.wrt), "derivatives": result.derivatives, "format": fmt}
        if exact is not None:
            document.update(at=exact[0], digits=digits, values=exact[1])
        if result.notes:
            document["notes"] = list(result.notes)
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        click.echo(result.text, nl=False)
        if exact is not None:
            point, values = exact
            comment = "%" if fmt == "latex" else "#"
            where = ", ".join(f"{n} = {v!r}" for n, v in point.items())
            click.echo(f"{comment} At {where}, in {digits} significant digits:")
            for name, value in values.items():
                click.echo(f"{comment}   d_{name} = {value}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    return 0
