"""`backprop jacobian`: the derivatives of several outputs by the inputs, in the cheaper mode."""

from __future__ import annotations

from typing import Any

import click
from backprop.cli.hessian import split_names
from backprop.cli.main import (
    ProgramCommand,
    check_exit_code,
    cli,
    handle_errors,
    load,
    precision_option,
    program_options,
    write_whole,
)
from backprop.cli.numbers import finite as _finite
from backprop.cli.numbers import number

JACOBIAN_EXAMPLES = """
Examples:

\b
  backprop jacobian "u = x*y; v = x + sin(y)" --output u --output v --at x=2,y=0.5
  backprop jacobian "u = x*y; v = x + y; w = x - y" --output u,v,w --at x=1,y=2 --json
"""


def jacobian_document(j: Any) -> dict[str, Any]:
    check = j.check
    return {
        "expression": j.source,
        "at": j.at,
        "outputs": list(j.outputs),
        "inputs": list(j.inputs),
        "values": dict(zip(j.outputs, j.values)),
        "jacobian": [[_finite(x) for x in row] for row in j.matrix],
        "mode": j.mode,
        "sweeps": j.sweeps,
        "sympy": [[_finite(x) for x in row] for row in j.sympy],
        "verdicts": [list(row) for row in j.verdicts],
        "check": {
            "method": check.method,
            "status": check.status,
            "counts": dict(check.counts),
            "message": check.message,
        },
        "notes": list(j.notes),
    }


def render_json(j: Any) -> str:
    """Strict JSON, floats in full, one matrix row per line."""
    from backprop.cli.render import matrix_json

    return matrix_json(jacobian_document(j), ("jacobian", "sympy", "verdicts"))


def render_text(j: Any, precision: int | None) -> str:
    names = list(j.inputs)
    cells = [[number(x, precision) for x in row] for row in j.matrix]
    label = max(len(o) for o in j.outputs)
    widths = [max([len(names[c])] + [len(row[c]) for row in cells]) for c in range(len(names))]
    lines = ["jacobian  d row / d column"]
    lines.append("  " + " " * label + "".join("  " + n.rjust(w) for n, w in zip(names, widths)))
    for name, row in zip(j.outputs, cells):
        lines.append(
            "  " + name.ljust(label) + "".join("  " + c.rjust(w) for c, w in zip(row, widths))
        )
    m, n = len(j.outputs), len(names)
    why = (
        f"{m} output{'s' if m != 1 else ''}, {n} input{'s' if n != 1 else ''}: reverse mode takes "
        f"{m} backward sweep{'s' if m != 1 else ''} (one per output), forward mode {n} "
        f"forward sweep{'s' if n != 1 else ''} (one per input)"
    )
    lines.append(f"mode      {j.mode}: {why}")
    check = j.check
    lines.append(f"check     {check.method}: {check.status}; {check.message}")
    if j.notes:
        lines.append("notes")
        lines += [f"  {note}" for note in j.notes]
    return "\n".join(lines) + "\n"


@cli.command("jacobian", cls=ProgramCommand, epilog=JACOBIAN_EXAMPLES)
@program_options
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="NAME",
    help="An assigned statement that is an output (repeatable or comma-separated): a row.",
)
@click.option(
    "--wrt", multiple=True, metavar="NAMES", help="The inputs (columns); default every input."
)
@click.option(
    "--mode",
    type=click.Choice(["forward", "reverse"]),
    help="Force a mode (default: the one with fewer sweeps).",
)
@click.option("--json", "as_json", is_flag=True, help="Write one strict JSON document.")
@click.option("--no-check", is_flag=True, help="Skip the SymPy cross-check.")
@precision_option(None, "Significant digits in the table (default: every digit).")
@handle_errors
def jacobian_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    outputs: tuple[str, ...],
    wrt: tuple[str, ...],
    mode: str | None,
    as_json: bool,
    no_check: bool,
    precision: int | None,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """The Jacobian of PROGRAM's named outputs (rows) by its inputs (columns), at a point.

    Computed in forward mode (one sweep per input) or reverse mode (one sweep
    per output), whichever needs fewer sweeps; each entry checked by SymPy.
    """
    from backprop.engine.jacobian import jacobian

    source, point = load(program, path, at, source_box)
    j = jacobian(
        source,
        point,
        split_names(outputs),
        split_names(wrt) or None,
        mode=mode,
        check=not no_check,
    )
    if as_json:
        write_whole(render_json(j))
    else:
        click.echo(render_text(j, precision), nl=False)
    return check_exit_code(j.check.status)
