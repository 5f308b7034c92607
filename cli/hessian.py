"""`backprop hessian`: the matrix of second derivatives at a point, checked by SymPy."""

from __future__ import annotations

from typing import Any

import click
from backprop.cli.main import (
    ProgramCommand,
    check_exit_code,
    check_seconds_option,
    cli,
    digits_option,
    handle_errors,
    load,
    precision_option,
    program_options,
    write_whole,
)
from backprop.cli.numbers import finite as _finite
from backprop.cli.numbers import number

HESSIAN_EXAMPLES = """
Examples:

\b
  backprop hessian -f samples/perceptron.bp                 # the 5 x 5 matrix, eigenvalues
  backprop hessian "x^2 + 3*x*y + y^4" --at x=0,y=0         # a saddle: indefinite
  backprop hessian -f samples/perceptron.bp --wrt w0,w1 --json
  backprop hessian "x*exp(y)" --at x=1,y=2 --digits 40      # in 40 significant digits
"""


def split_names(items: tuple[str, ...]) -> list[str]:
    """`("x,y", "z")` -> ["x", "y", "z"]."""
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def hessian_document(h: Any) -> dict[str, Any]:
    """The JSON document: SPEC's keys first, then the details."""
    from backprop.cli.render import check_document

    doc: dict[str, Any] = {
        "expression": h.source,
        "at": h.at,
        "value": h.value,
        "inputs": list(h.inputs),
        "hessian": [[_finite(x) for x in row] for row in h.matrix],
        "eigenvalues": None if h.eigenvalues is None else list(h.eigenvalues),
        "definiteness": h.definiteness,
        "meaning": h.meaning,
        "symmetry": h.symmetry,
        "asymmetry": h.asymmetry if h.asymmetry - h.asymmetry == 0 else None,
        "gradients": {name: _finite(g) for name, g in h.gradient.items()},
    }
    if h.digits is not None:
        doc["digits"] = h.digits
        doc["hessian_exact"] = [list(row) for row in h.matrix_exact]
        doc["eigenvalues_exact"] = (
            None if h.eigenvalues_exact is None else list(h.eigenvalues_exact)
        )
    doc["sympy"] = [[_finite(x) for x in row] for row in h.sympy]
    doc["verdicts"] = [list(row) for row in h.verdicts]
    doc["check"] = check_document(h.check)
    doc["cost"] = {
        "sweeps": h.sweeps,
        "program_nodes": h.program_nodes,
        "derived_nodes": h.derived_nodes,
    }
    doc["notes"] = list(h.notes)
    return doc


def render_json(h: Any) -> str:
    """Strict JSON, floats in full, one matrix row per line."""
    from backprop.cli.render import matrix_json

    return matrix_json(hessian_document(h), ("hessian", "hessian_exact", "sympy", "verdicts"))


def render_text(h: Any, precision: int | None) -> str:
    """The matrix as an aligned table, then eigenvalues, what they say, the check."""

    def num(x: float | None, exact: str | None = None) -> str:
        if exact is not None and precision is None:
            return exact
        return "" if x is None else number(x, precision)

    names = list(h.inputs)
    lines = [f"value    {num(h.value)}", "hessian  d2 out / d row d column"]
    cells = [
        [
            num(x, h.matrix_exact[a][b] if h.matrix_exact is not None else None)
            for b, x in enumerate(row)
        ]
        for a, row in enumerate(h.matrix)
    ]
    label = max([len(n) for n in names] + [0])
    widths = [max([len(names[b])] + [len(row[b]) for row in cells]) for b in range(len(names))]
    lines.append("  " + " " * label + "".join("  " + n.rjust(w) for n, w in zip(names, widths)))
    for name, row in zip(names, cells):
        lines.append(
            "  " + name.ljust(label) + "".join("  " + c.rjust(w) for c, w in zip(row, widths))
        )
    if h.eigenvalues is not None:
        shown = (
            h.eigenvalues_exact
            if (h.eigenvalues_exact and precision is None)
            else [num(x) for x in h.eigenvalues]
        )
        lines.append(f"eigenvalues   {', '.join(shown)}")
    if h.definiteness:
        lines.append(f"definiteness  {h.definiteness}: {h.meaning}")
    else:
        lines.append(f"definiteness  none: {h.meaning}")
    if h.symmetry == "bit for bit":
        lines.append("symmetry      bit for bit: H[i][j] == H[j][i] for every pair")
    else:
        lines.append(
            f"symmetry      {h.symmetry}: the largest difference between H[i][j] and "
            f"H[j][i] is {h.asymmetry:.2g} of the largest entry"
        )
    lines.append(
        f"cost          {h.sweeps} forward sweep{'s' if h.sweeps != 1 else ''} (one per input) "
        f"over the gradient's graph of {h.derived_nodes:,} nodes (the program has "
        f"{h.program_nodes:,})"
    )
    check = h.check
    lines.append(f"check         {check.method}: {check.status}; {check.message}")
    notes = list(h.notes)
    # Entries with the same verdict and reason share a line: ten names, then a count.
    groups: dict[tuple[str, str], list[str]] = {}
    for a, row in enumerate(h.verdicts):
        for b, verdict in enumerate(row):
            if verdict not in ("ok", "", "n/a") and b >= a:
                key = (verdict, h.reasons[a][b])
                groups.setdefault(key, []).append(f"d2/d{names[a]} d{names[b]}")
    for (verdict, reason), entries in groups.items():
        if len(entries) == 1:
            notes.append(f"{entries[0]}: {verdict} ({reason})")
        else:
            more = f" and {len(entries) - 10:,} more" if len(entries) > 10 else ""
            notes.append(f"{', '.join(entries[:10])}{more}: {verdict} ({reason})")
    flagged = sorted(
        {
            (min(a, b), max(a, b))
            for a, row in enumerate(h.verdicts)
            for b, v in enumerate(row)
            if v == "n/a"
        }
    )
    if flagged:
        pairs = ", ".join(f"{names[a]},{names[b]}" for a, b in flagged[:10])
        more = f" and {len(flagged) - 10} more" if len(flagged) > 10 else ""
        notes.append(
            f"n/a (a non-differentiable point; PyTorch's convention was used): {pairs}{more}"
        )
    if notes:
        lines.append("notes")
        lines += [f"  {note}" for note in notes]
    return "\n".join(lines) + "\n"


@cli.command("hessian", cls=ProgramCommand, epilog=HESSIAN_EXAMPLES)
@program_options
@click.option(
    "--wrt",
    multiple=True,
    metavar="NAMES",
    help="The inputs to take second derivatives by (comma-separated or repeated; default: "
    "every input), shown in the program's input order.",
)
@click.option("--json", "as_json", is_flag=True, help="Write one strict JSON document.")
@click.option(
    "--no-check", is_flag=True, help="Skip the SymPy cross-check (SymPy is not imported)."
)
@check_seconds_option("Budget for SymPy's second derivatives, in seconds of CPU time.")
@digits_option("The Hessian and its eigenvalues are computed that way.")
@precision_option(None, "Significant digits in the table (default: every digit).")
@handle_errors
def hessian_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    wrt: tuple[str, ...],
    as_json: bool,
    no_check: bool,
    check_seconds: float,
    digits: int | None,
    precision: int | None,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """The Hessian of PROGRAM at a point: every second derivative, its eigenvalues and
    what they say (a minimum, a maximum, a saddle), each entry checked by SymPy.

    Computed forward over reverse: one forward-mode sweep per input over the
    gradient's graph, with the gate table's own rules, not a symbolic expansion.
    """
    from backprop.engine.hessian import hessian

    source, point = load(program, path, at, source_box)
    names = split_names(wrt)
    h = hessian(
        source,
        point,
        names or None,
        check=not no_check,
        check_seconds=check_seconds,
        digits=digits,
    )
    if as_json:
        write_whole(render_json(h))
    else:
        click.echo(render_text(h, precision), nl=False)
    return check_exit_code(h.check.status)
