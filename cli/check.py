"""`backprop check`: a verdict on a hand-derived derivative (engine/claims.py does the work)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import click
from backprop.cli.main import (
    EXIT_MISMATCH,
    EXIT_OK,
    ProgramCommand,
    check_seconds_option,
    cli,
    handle_errors,
    load,
    points_options,
    program_options,
    read_program,
    write_whole,
)
from backprop.cli.numbers import finite as _finite
from backprop.cli.numbers import number
from backprop.cli.render import fd_fields
from backprop.parser import printable

DEFAULT_SAMPLES = 20  # engine/claims.py's, without importing it for --help

CHECK_EXAMPLES = """
Examples:

\b
  backprop check "x*sin(x)/(1+x^2)" --claim "x=(sin(x) + x*cos(x))/(1+x^2) - 2*x^2*sin(x)/(1+x^2)^2"
  backprop check "sin(x^2)" --claim x=cos(x^2)              # wrong: a missing factor 2*x
  backprop check -f samples/tanh_neuron.bp --claim "w1=x1*(1 - tanh(n)^2)"   # names it assigns
  backprop check "x*y" --claims answers.bp --json          # a file of d_NAME = FORMULA lines
  backprop grad "x*sin(x)" | backprop check "x*sin(x)" --claims -
  backprop check "x*sin(x)" --claim "x=sin(x)+x*cos(x)" --grid x=-5:5:101   # at 101 points
  backprop check "x*y" --claim y=x --points points.csv --samples 20   # a file, and 20 random

\b
A claim may use the program's inputs, the names it assigns, pi, e and every
function. Exit status: 0 every claim correct or agrees, 1 a claim is wrong (or
undecided), 2 bad input (a syntax error in a claim, a claim for a name that is
not an input), 3 internal error.
"""


@cli.command("check", cls=ProgramCommand, epilog=CHECK_EXAMPLES)
@program_options
@click.option(
    "--claim",
    "claim_items",
    multiple=True,
    metavar="NAME=FORMULA",
    help="A claimed derivative d out/d NAME, in backprop's language; repeatable.",
)
@click.option(
    "--claims",
    "claims_path",
    metavar="FILE",
    help="A file of claims, one 'd_NAME = FORMULA' statement each ('-' for stdin).",
)
@click.option(
    "--samples",
    type=click.IntRange(0, 10_000),
    default=None,
    help="Random points to compare at, besides the --at point and the --points or --grid "
    "points. [default: 20; 0 with --points or --grid]",
)
@points_options("Compare")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random points.")
@check_seconds_option(
    "SymPy's budget per claim, in seconds of CPU time, for a proof or a relation."
)
@click.option(
    "--fd", is_flag=True, help="Also compare each claim with a finite difference at a point."
)
@click.option("--json", "as_json", is_flag=True, help="Write one strict JSON document to stdout.")
@handle_errors
def check_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    claim_items: tuple[str, ...],
    claims_path: str | None,
    samples: int | None,
    points: str | None,
    points_format: str | None,
    grid: tuple[str, ...],
    seed: int,
    check_seconds: float,
    fd: bool,
    as_json: bool,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Check claimed derivatives of PROGRAM: correct, agrees, wrong or undecided.

    Each claim is compared with the derivative at the --at point (or the
    program's '# at:' line) and at --samples random points where both are
    defined, and SymPy tries to prove it equal within its budget. With
    --points FILE or --grid, at those points (a point where the program or the
    claim is undefined is skipped), and at random points only if --samples is
    given; --at then gives the inputs the file or grid leaves out. A wrong
    claim gets the first point where it differs, the true derivative (as
    'backprop grad --simplify' prints it) and, where SymPy finds it, how it
    differs: sign, factor, missing factor or term.
    """
    from backprop.engine.claims import (
        ClaimError,
        check_claims,
        claims_from_file,
        claims_from_options,
    )

    if not claim_items and claims_path is None:
        raise click.UsageError("give claims with --claim NAME=FORMULA or --claims FILE")
    if claims_path == "-" and (program == "-" or path == "-"):
        raise click.UsageError("the program and the claims cannot both come from stdin")
    many = points is not None or bool(grid)
    if points is not None and grid:
        raise click.UsageError("give --points FILE or --grid, not both")
    if points_format is not None and points is None:
        raise click.UsageError("--points-format is the format of --points FILE")
    if points == "-" and "-" in (program, path, claims_path):
        raise click.UsageError("only one of the program, the claims and --points can be stdin")
    if samples is None:
        samples = 0 if many else DEFAULT_SAMPLES
    if many:
        from backprop.engine.point import parse_at

        given_at = parse_at(at)
        source, fixed = load(program, path, at, source_box)
        point: dict[str, float] | None = None
    else:
        source, point = load(program, path, at, source_box)
    with ExitStack() as stack:
        try:
            claims = claims_from_options(claim_items)
            if claims_path is not None:
                claims += claims_from_file(read_program(None, claims_path))
        except ClaimError as err:
            source_box[0] = err.text  # the caret points into the claim
            raise
        given = None
        if many:
            given = given_points(
                source, points, points_format, grid, fixed, [n for n, _ in given_at], stack
            )
        try:
            report = check_claims(
                source,
                claims,
                point,
                samples=samples,
                seed=seed,
                seconds=check_seconds,
                fd=fd,
                given=given,
            )
        except ClaimError as err:
            source_box[0] = err.text  # the caret points into the claim
            raise
    if as_json:
        write_whole(render_json(report))
    else:
        click.echo(render_plain(report), nl=False)
    if report.status == "wrong" or report.status == "undecided":
        return EXIT_MISMATCH
    return EXIT_OK


def given_points(
    source: str,
    points: str | None,
    points_format: str | None,
    grids: tuple[str, ...],
    fixed: dict[str, float],
    overridden: list[str],
    stack: ExitStack,
) -> Any:
    """The points of --points FILE (read once, kept) or --grid (made afresh for each
    claim), read as `eval --points` reads them: the same errors for a bad file."""
    from backprop.cli.points import point_blocks
    from backprop.engine import points as engine_points
    from backprop.engine.claims_points import GivenPoints

    compiled = engine_points.compile(source)
    blocks, where, _, total = point_blocks(
        compiled, points, points_format, grids, fixed, overridden, stack
    )
    if grids:
        next(iter(blocks), None)  # a bad grid is refused before any claim is judged

        def again() -> Any:
            return point_blocks(compiled, None, None, grids, fixed, overridden, stack)[0]

        assert total is not None
        return GivenPoints(where, total, again)
    kept = list(blocks)
    return GivenPoints(where, sum(len(b) for b in kept), lambda: kept)


def document(report: Any) -> dict[str, Any]:
    """The JSON document (schema/check.schema.json)."""
    claims = []
    for c in report.claims:
        item: dict[str, Any] = {
            "wrt": c.wrt,
            "claim": printable(c.claim),
            "verdict": c.verdict,
            "points": c.points,
            "replaced": dict(c.replaced),
            "counterexample": None,
            "difference": c.difference,
            "detail": c.detail,
            "derivative": c.derivative,
            "proof": c.proof,
        }
        if c.counterexample is not None:
            ce = c.counterexample
            item["counterexample"] = {
                "at": ce.at,
                "claimed": _finite(ce.claimed),
                "true": _finite(ce.true),
                "relative_error": _finite(ce.relative_error),
            }
        if c.fd is not None:
            item["fd_at"] = c.fd_at
            item.update(fd_fields(c.fd))
        claims.append(item)
    doc = {
        "expression": report.source,
        "at": report.at,
        "samples": report.samples,
        "seed": report.seed,
        "claims": claims,
        "status": report.status,
    }
    if report.given is not None:
        doc["given_points"] = {"from": report.given.where, "count": report.given.count}
    return doc


def render_json(report: Any) -> str:
    """Strict JSON, floats in full."""
    return json.dumps(document(report), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _point(at: dict[str, float], shown: int = 10) -> str:
    """The point's first ten coordinates, then how many more (--json has them all)."""
    text = ", ".join(f"{name} = {number(value)}" for name, value in list(at.items())[:shown])
    more = len(at) - shown
    return f"{text} and {more:,} more (all in --json)" if more > 0 else text


def render_plain(report: Any) -> str:
    """A row per claim, then what supports each verdict: the same bytes on any terminal."""
    fd = any(c.fd is not None for c in report.claims)
    headers = ("#", "wrt", "verdict", "points", "difference", *(("fd",) * fd), "claim")
    rows = [headers]
    for k, c in enumerate(report.claims, 1):
        cells = [str(k), c.wrt, c.verdict, str(c.points), c.difference or ""]
        if fd:
            cells.append((c.fd.verdict or "") if c.fd is not None else "")
        cells.append(printable(" ".join(c.claim.split())))
        rows.append(tuple(cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if headers[i] in ("#", "points") else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append("")
    if report.given is not None:
        count = report.given.count
        random = f", and {report.samples:,} random" if report.samples else ""
        lines.insert(0, f"points  {count:,} from {report.given.where}{random}")
    from backprop.engine.claims import given_up_word

    word = given_up_word(report.given, report.samples)
    for k, c in enumerate(report.claims, 1):
        lines.append(f"{k}. d_{c.wrt}: {c.verdict}: {c.detail}")
        if c.counterexample is not None:
            ce = c.counterexample
            lines.append(
                f"   differs at {_point(ce.at)}: claimed {number(ce.claimed)}, true "
                f"{number(ce.true)}, relative error {ce.relative_error:.3g}"
            )
        if c.verdict != "correct" and c.derivative is not None:
            lines.append(f"   the derivative: d_{c.wrt} = {c.derivative}")
        if c.replaced:
            why = ", ".join(f"{n} {reason}" for reason, n in c.replaced.items())
            lines.append(f"   points {word}: {why}")
        if c.fd is not None:
            lines.append(f"   finite difference at {_point(c.fd_at)}: {_fd_text(c.fd)}")
    counts = {v: sum(c.verdict == v for c in report.claims) for v in _ORDER}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines.append(f"status  {report.status} ({summary})")
    return "\n".join(lines) + "\n"


_ORDER = ("correct", "agrees", "wrong", "undecided")


def _fd_text(fd: Any) -> str:
    if fd.verdict == "kink":
        return f"kink: left {number(fd.left)}, right {number(fd.right)}"
    if fd.value is None:
        return f"none ({fd.note})"
    error = "" if fd.relative_error is None else f", relative error {fd.relative_error:.2g}"
    note = f"; {fd.note}" if fd.note else ""
    return f"{number(fd.value)} ({fd.verdict or 'not compared'}{error}){note}"
