"""`check_claims`: is a hand-derived derivative right? (`backprop check`)

A claim is a formula in backprop's language for d out/d NAME. It is parsed by
our parser and built into a graph in the scope of the program (the program's
statements, then the claim, so it may read the inputs, the names the program
assigns, the constants and every function). Then:

1. Points: the given point, if any, the points of a file or a grid
   (engine/claims_points.py: `--points`, `--grid`), and `samples` random ones
   drawn with `random.Random(seed)` (reproducible), each input uniform on
   [-s, s] with s one of 1, 3 or 10. A point where the program or the claim is
   undefined (a domain error), where the derivative is not finite, or where the
   input sits at a kink (the derivative is not defined there) is replaced by
   another draw (a file's or a grid's point is skipped), and counted by reason.
2. At each point the claim's value is compared with the engine's gradient
   (relative 1e-9, absolute 1e-12); where they differ, both are computed again
   in 30 digits (mpmath, engine/exact.py) and that comparison decides, so that
   float rounding in either formula is not a counterexample.
3. SymPy (within a CPU-time budget per claim): for a claim that agrees at every
   point, a proof that claim - derivative is 0; for a wrong one, the simplest
   relation to the derivative (engine/proof.py). The derivative is SymPy's
   own `diff` of the program's SymPy form, independent of our rules.

Verdicts: correct (proved, and agrees at every point), agrees (no proof within
the budget, agrees at every point, and enough points), wrong (a point where it
differs), undecided (not proved and too few points could be evaluated).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from backprop.engine.api import _notes, list_inputs, resolve_point
from backprop.engine.build import build_graph
from backprop.engine.errors import DomainError, InputError, NumericError
from backprop.engine.gates import GATES
from backprop.engine.graph import Graph
from backprop.engine.passes import backward, depends_on_inputs, forward, live_nodes
from backprop.parser import (
    Assign,
    BackpropError,
    ParseError,
    Program,
    Span,
    name_list,
    parse,
    shorten,
)
from backprop.parser.lexer import NAME_RE
from backprop.parser.parse import cycle_collector_paused

DEFAULT_SAMPLES = 20
DEFAULT_SEED = 0
DEFAULT_SECONDS = 5.0  # SymPy's CPU time per claim
REL_TOL = 1e-9
ABS_TOL = 1e-12
EXACT_DIGITS = 30
EXACT_REL_TOL = 1e-15
EXACT_ABS_TOL = 1e-20
SCALES = (1.0, 3.0, 10.0)  # a random point's inputs: uniform on [-s, s], s one of these
VERDICTS = ("correct", "agrees", "wrong", "undecided")  # best first
DIFFERENCES = ("sign", "factor", "missing factor", "term")
SCREEN_POINTS = 4  # points a wrong claim's relation is screened at before SymPy tries it
REASONS = ("program undefined", "claim undefined", "derivative not finite", "kink")


class ClaimError(BackpropError):
    """A claim that cannot be judged (syntax, unknown name, not an input); `text` is
    what its span points into: the claim as given, or the claims file."""

    def __init__(self, message: str, text: str, span: Span | None, kind: str = "input") -> None:
        super().__init__(message, span, kind)
        self.text = text


@dataclass(frozen=True)
class Claim:
    """A claimed derivative d out/d `wrt`: its formula, and the text that holds it."""

    wrt: str
    formula: str
    text: str  # the claim as given (--claim), or the whole claims file
    start: int  # where the formula starts in `text`
    file: bool = False  # from a claims file: the file's statements come along


def claims_from_options(items: Sequence[str]) -> list[Claim]:
    """`["x=2*x", "d_y=cos(y)"]` -> claims. Each is read as the statement NAME = FORMULA
    of the language (so that a syntax error's column is the claim's own)."""
    claims = []
    for item in items:
        name, eq, _ = item.partition("=")
        name = name.strip(" \t")
        if not eq or not NAME_RE.fullmatch(name):
            message = f"--claim expects NAME=FORMULA, such as x=2*x, got {shorten(repr(item))}"
            raise ClaimError(message, item, None)
        what = f"the claim for {shorten(name)}"
        try:
            statements = parse(item).statements
        except ParseError as err:
            raise ClaimError(f"in {what}: {err.message}", item, err.span, err.kind) from None
        if len(statements) != 1 or not isinstance(statements[0], Assign):
            span = Span(len(name), len(item))
            raise ClaimError(f"{what} must be one expression (no ';')", item, span)
        span = statements[0].value.span
        claims.append(Claim(name, item[span.start : span.end], item, span.start))
    return claims


def claims_from_file(text: str) -> list[Claim]:
    """The claims of a file of statements `d_NAME = FORMULA` (other statements are helpers
    the claims may read, as in `backprop grad`'s output)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as a program may start with
    try:
        program = parse(text)
    except ParseError as err:
        if err.span is None:  # no statement at all (blank, or only comments)
            raise ClaimError(
                "the claims file is empty: write claims as d_NAME = FORMULA", text, None
            ) from None
        raise ClaimError(f"in the claims file: {err.message}", text, err.span, err.kind) from None
    claims: dict[str, Claim] = {}
    for statement in program.statements:
        if isinstance(statement, Assign) and statement.name.startswith("d_"):
            span = statement.value.span
            wrt = statement.name[2:]
            claims.pop(wrt, None)  # the last binding is the claim, in its place
            claims[wrt] = Claim(wrt, text[span.start : span.end], text, span.start, file=True)
    if not claims:
        raise ClaimError("the claims file has no claim: write them as d_NAME = FORMULA", text, None)
    return list(claims.values())


@dataclass(frozen=True)
class Counterexample:
    """The first point where a claim differs from the derivative."""

    at: dict[str, float]
    claimed: float
    true: float
    relative_error: float  # |claimed - true| / max(|claimed|, |true|)


@dataclass(frozen=True)
class ClaimResult:
    """The verdict on one claim, and what supports it."""

    wrt: str
    claim: str
    verdict: str  # VERDICTS
    points: int  # points where the claim was compared with the derivative
    replaced: dict[str, int]  # points given up, by reason (REASONS)
    counterexample: Counterexample | None
    difference: str | None  # DIFFERENCES, for a wrong claim where SymPy finds the relation
    detail: str
    derivative: str | None  # the true derivative as `backprop grad --simplify` prints it
    proof: str | None = None  # how SymPy proved it: "identical", "expand", "simplify", ...
    sympy_note: str = ""  # why SymPy gave no proof or relation (budget, size)
    fd: Any = None  # with fd: the finite difference at fd_at, compared with the claim
    fd_at: dict[str, float] | None = None


@dataclass(frozen=True)
class ClaimsReport:
    """Every claim's verdict; `status` is the worst of them."""

    source: str
    at: dict[str, float] | None
    samples: int
    seed: int
    claims: tuple[ClaimResult, ...]
    status: str = field(default="correct")
    given: Any = None  # the points of --points FILE or --grid (claims_points.GivenPoints)


@dataclass
class _Built:
    """A claim built into the program's scope: the combined graph and the claim's node."""

    claim: Claim
    graph: Graph
    node: int
    offset: int  # where the claim's text starts in the combined source


def _build(source: str, program: Graph, claim: Claim) -> _Built:
    """The program's statements, then the claim (for a file, the file's statements and
    then a read of d_NAME), as one graph whose first nodes are the program's."""
    known = claim.wrt in program.inputs
    if not known and claim.wrt.startswith("d_") and claim.wrt[2:] in program.inputs:
        claim = replace(claim, wrt=claim.wrt[2:])  # --claim d_x=..., as a file writes it
    if claim.wrt not in program.inputs:
        names = list(program.inputs)
        verb = "is not an input of the program"
        raise ClaimError(
            f"a claim for {shorten(claim.wrt)}, which {verb}; {list_inputs(names)}",
            claim.text,
            _name_span(claim),
            "name",
        )
    offset = len(source) + 1
    if claim.file:
        combined = f"{source}\n{claim.text}\nd_{claim.wrt}"
        shift = 0
    else:
        combined = f"{source}\n{claim.formula}"
        shift = claim.start
    with cycle_collector_paused():
        graph = build_graph(parse(combined))
    new = [name for name in graph.inputs if name not in program.inputs]
    names = list(program.inputs)
    if new:
        first = graph.nodes[graph.inputs[new[0]]].span
        span = Span(first.start - offset + shift, first.end - offset + shift)
        assigned = list(dict.fromkeys(program.names.values()))
        named = f"the names it assigns ({name_list(assigned)}), " if assigned else ""
        raise ClaimError(
            f"the claim for {shorten(claim.wrt)} reads {name_list(new)}, which the program "
            f"does not define; a claim may use the program's inputs ({name_list(names)}), "
            f"{named}pi, e and the functions",
            claim.text,
            span,
            "name",
        )
    return _Built(claim, graph, graph.output, offset)


def _name_span(claim: Claim) -> Span | None:
    """Where the claim names its input: `d_x` in a file, `x` in --claim x=..."""
    name = f"d_{claim.wrt}" if claim.file else claim.wrt
    at = claim.text.rfind(name, 0, claim.start)
    return None if at < 0 else Span(at, at + len(name))


def _draw(rng: random.Random, names: Sequence[str]) -> dict[str, float]:
    return {name: rng.uniform(-s, s) for name in names for s in [rng.choice(SCALES)]}


def _close(a: float, b: float, rel: float, absolute: float) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absolute)


def _relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


class _Judge:
    """Evaluates one claim against the engine's derivative at points."""

    def __init__(self, program: Graph, built: _Built) -> None:
        self.program = program
        self.built = built
        self.input = program.inputs[built.claim.wrt]
        self.size = len(program.nodes)

    def at(self, point: dict[str, float]) -> tuple[str, float, float]:
        """("ok" | "differs" | a REASON, claimed, true) at `point`."""
        graph, program = self.built.graph, self.program
        try:
            values = forward(graph, point, GATES)
        except (DomainError, NumericError) as err:
            inside = err.span is not None and err.span.start >= self.built.offset
            return ("claim undefined" if inside else "program undefined"), math.nan, math.nan
        own = values[: self.size]
        grads = backward(program, own, GATES)
        true = grads[self.input]
        claimed = values[self.built.node]
        if true is None or not math.isfinite(true):
            return "derivative not finite", claimed, math.nan
        _, kinked = _notes(program, own, grads, GATES)
        if kinked[self.input]:
            return "kink", claimed, true
        if _close(claimed, true, REL_TOL, ABS_TOL):
            return "ok", claimed, true
        exact_claimed, exact_true = self.exact(point)
        if _close(exact_claimed, exact_true, EXACT_REL_TOL, EXACT_ABS_TOL):
            return "ok", claimed, true  # float rounding in one formula or the other
        return "differs", exact_claimed, exact_true

    def exact(self, point: dict[str, float]) -> tuple[float, float]:
        """The claim and the derivative at `point` in EXACT_DIGITS digits (mpmath)."""
        from backprop.engine.exact import exact_passes

        graph, program = self.built.graph, self.program
        depends = depends_on_inputs(graph)
        claim = exact_passes(graph, point, EXACT_DIGITS, depends, live_nodes(graph, depends))
        depends = depends_on_inputs(program)
        true = exact_passes(program, point, EXACT_DIGITS, depends, live_nodes(program, depends))
        return float(claim.values[self.built.node]), float(true.grads[self.input])


def check_claims(
    source: str,
    claims: Sequence[Claim],
    at: Mapping[str, float] | None = None,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    seconds: float = DEFAULT_SECONDS,
    fd: bool = False,
    given: Any = None,
) -> ClaimsReport:
    """Judge each claim: points first, then SymPy's proof or classification.

    `given` (claims_points.GivenPoints): the points of a file or a grid, judged
    after the point `at` and before the `samples` random ones.

    Raises a BackpropError for a bad program or point, and a ClaimError for a
    claim that cannot be judged (syntax, a name that is not an input, an
    unknown name).
    """
    with cycle_collector_paused():
        parsed = parse(source)
        program = build_graph(parsed)
    if not program.inputs:
        raise InputError("the program has no inputs: there is nothing to differentiate")
    claims = _without_helpers(claims, program, parsed)
    point = resolve_point(program, at) if at else None
    if point is not None:
        forward(program, point, GATES)  # a point where the program fails is bad input
    if samples == 0 and point is None and given is None:
        raise InputError(
            "with --samples 0, give a point with --at (or a '# at:' line), --points or --grid"
        )
    built = [_build(source, program, claim) for claim in claims]
    derivatives: dict[str, str | None] = {}
    results = []
    for b in built:
        result = _judge(source, program, b, point, samples, seed, seconds, fd, given)
        if result.wrt not in derivatives:
            derivatives[result.wrt] = _derivative_text(source, result.wrt, seconds)
        results.append(_with(result, derivative=derivatives[result.wrt]))
    order = ("correct", "agrees", "undecided", "wrong")  # the status: the worst that occurred
    status = max((r.verdict for r in results), key=order.index, default="correct")
    return ClaimsReport(source, point, samples, seed, tuple(results), status, given)


def _assigned(program: Program) -> set[str]:
    return {st.name for st in program.statements if isinstance(st, Assign)}


def _without_helpers(claims: Sequence[Claim], program: Graph, parsed: Program) -> list[Claim]:
    """The claims, less a file's d_NAME statements for a NAME that is not an input but is
    assigned (by the program or the file): the adjoints of intermediate values that
    `backprop grad` writes, helpers as the file's other statements are."""
    assigned = _assigned(parsed)
    in_file: dict[str, set[str]] = {}
    kept = []
    for claim in claims:
        if claim.file and claim.wrt not in program.inputs:
            if claim.text not in in_file:
                in_file[claim.text] = _assigned(parse(claim.text))
            if claim.wrt in assigned or claim.wrt in in_file[claim.text]:
                continue
        kept.append(claim)
    if not kept:
        names = list(program.inputs)
        raise ClaimError(
            f"the claims file has no claim for an input: write them as d_NAME = FORMULA "
            f"for NAME one of the inputs ({name_list(names)})",
            claims[0].text,
            None,
        )
    return kept


def _with(result: ClaimResult, **changes: Any) -> ClaimResult:
    return replace(result, **changes)


def _judge(
    source: str,
    program: Graph,
    built: _Built,
    point: dict[str, float] | None,
    samples: int,
    seed: int,
    seconds: float,
    fd: bool,
    given_points: Any = None,
) -> ClaimResult:
    judge = _Judge(program, built)
    pending = given_points
    rng = random.Random(seed)
    names = list(program.inputs)
    replaced = dict.fromkeys(REASONS, 0)
    judged = 0
    first: dict[str, float] | None = None
    good: list[dict[str, float]] = []
    given = 0  # points judged that were not drawn: --at's, a file's or a grid's
    counterexample = None
    candidates: list[dict[str, float]] = [point] if point is not None else []
    tries = 20 * samples + 100
    drawn = 0
    while counterexample is None:
        if candidates:
            here = candidates.pop()
        elif pending is not None:
            found = _given(judge, program, pending)
            pending = None
            given += found.judged  # not random draws
            judged += found.judged
            for reason, n in found.replaced.items():
                replaced[reason] += n
            first = first or (found.good[0] if found.good else None)
            good += found.good
            if found.counterexample is not None:
                at, claimed, true = found.counterexample
                counterexample = Counterexample(at, claimed, true, _relative(claimed, true))
            continue
        elif judged - given < samples and drawn < tries:
            here = _draw(rng, names)
            drawn += 1
        else:
            break
        outcome, claimed, true = judge.at(here)
        if outcome in REASONS:
            replaced[outcome] += 1
            continue
        judged += 1
        given += here is point
        first = first or here
        good.append(here)
        if outcome == "differs":
            counterexample = Counterexample(here, claimed, true, _relative(claimed, true))
    claim = built.claim
    if counterexample is not None:
        # A few more points where both are defined: they rule relations out for SymPy.
        while len(good) < SCREEN_POINTS and drawn < tries:
            here = _draw(rng, names)
            drawn += 1
            if judge.at(here)[0] in ("ok", "differs"):
                good.append(here)
    proof, difference, note = _sympy(program, built, counterexample is not None, seconds, good)
    enough = judged >= max(1, math.ceil(samples / 2))
    if counterexample is not None:
        verdict = "wrong"
    elif proof is not None and judged:
        verdict = "correct"
    else:
        verdict = "agrees" if enough else "undecided"
    word = given_up_word(given_points, samples)
    detail = _detail(verdict, judged, replaced, proof, difference, note, word)
    if verdict in ("wrong", "undecided"):
        detail += _rebound_inputs(program, built.claim)
    fd_result = None
    if fd and first is not None:
        fd_result = _claim_fd(program, built, judge, first)
    return ClaimResult(
        claim.wrt,
        claim.formula.strip(),
        verdict,
        judged,
        {k: v for k, v in replaced.items() if v},
        counterexample,
        difference.kind if difference else None,
        detail,
        None,
        proof,
        note,
        fd_result,
        first if fd_result is not None else None,
    )


def _rebound_inputs(program: Graph, claim: Claim) -> str:
    """A note where the claim reads an input that the program assigns (h = tanh(h)): in a
    claim that name is the program's last binding, not the input."""
    from backprop.parser.tree import Name, children

    rebound = set(program.inputs) & set(program.names.values())
    if not rebound:
        return ""
    read: set[str] = set()
    stack: list[Any] = []
    for statement in parse(claim.text if claim.file else claim.formula).statements:
        stack.append(statement.value if isinstance(statement, Assign) else statement)
    while stack:
        expr = stack.pop()
        if isinstance(expr, Name):
            read.add(expr.name)
        stack.extend(children(expr))
    names = sorted(read & rebound)
    if not names:
        return ""
    return (
        f"; note: {name_list(names)} {'is an input' if len(names) == 1 else 'are inputs'} "
        "that the program assigns: in a claim the name is the program's last binding, "
        "not the input"
    )


def _detail(
    verdict: str,
    judged: int,
    replaced: dict[str, int],
    proof: str | None,
    difference: Any,
    note: str,
    word: str = "replaced",
) -> str:
    given_up = sum(replaced.values())
    skipped = f" ({given_up} point{'s' * (given_up != 1)} {word})" if given_up else ""
    points = f"{judged} point{'s' * (judged != 1)}"
    if verdict == "correct":
        return f"SymPy proves it equal to the derivative ({proof}); it agrees at {points}{skipped}"
    if verdict == "agrees":
        why = f" ({note})" if note else ""
        return f"equal within tolerance at {points}{skipped}; no proof by SymPy{why}"
    if verdict == "undecided":
        if proof is not None:  # proved, but no point where both could be evaluated
            return (
                f"only {points} could be evaluated{skipped}; SymPy proves it equal to the "
                f"derivative ({proof}), but no point confirms it"
            )
        why = f" ({note})" if note else ""
        return f"only {points} could be evaluated{skipped}; no proof by SymPy{why}"
    if difference is not None:
        return str(difference.detail)
    return "it differs from the derivative" + (f" ({note})" if note else "")


def given_up_word(given: Any, samples: int) -> str:
    """How the points given up are described: random ones are replaced by another
    draw, a file's or a grid's are skipped."""
    if given is None:
        return "replaced"
    return "skipped or replaced" if samples else "skipped"


def _given(judge: _Judge, program: Graph, given: Any) -> Any:
    from backprop.engine.claims_points import judge_given
    from backprop.engine.points import from_graph

    return judge_given(judge, from_graph(program), given, SCREEN_POINTS, REL_TOL, ABS_TOL)


def _sympy(
    program: Graph,
    built: _Built,
    wrong: bool,
    seconds: float,
    points: Sequence[dict[str, float]] = (),
) -> tuple[str | None, Any, str]:
    """SymPy's proof (for a claim that agrees) or relation (for a wrong one), in budget."""
    import sympy as sp
    from backprop.engine.check import _deadline, _OutOfTime
    from backprop.engine.proof import TooLarge, classify, expressions, proved_equal

    try:
        with _deadline(seconds):
            whole = expressions(sp, program, [program.output])[program.output]
            claim = expressions(sp, built.graph, [built.node])[built.node]
            symbol = sp.Symbol(built.claim.wrt, real=True)
            true = sp.diff(whole, symbol)
            if wrong:
                return None, classify(sp, claim, true, whole, symbol, points), ""
            return proved_equal(sp, claim, true), None, ""
    except _OutOfTime:
        return None, None, f"out of SymPy's budget of {seconds:g} s"
    except TooLarge as err:
        return None, None, f"too large for SymPy: {err}"
    except RecursionError:
        return None, None, "SymPy ran out of recursion depth"
    except Exception as err:  # SymPy failing must not cost the points' verdict
        return None, None, f"SymPy failed ({type(err).__name__})"


def _derivative_text(source: str, wrt: str, seconds: float) -> str | None:
    """The true derivative as `backprop grad --simplify` prints it (its d_NAME line)."""
    from backprop.engine.gradient import gradient_program

    try:
        text = gradient_program(source, [wrt], "bp", simplify=True, seconds=seconds).text
    except BackpropError:
        return None  # too large for SymPy: the points still judge the claim
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    return last.removeprefix("# ").removeprefix(f"d_{wrt} = ")


def _claim_fd(program: Graph, built: _Built, judge: _Judge, point: dict[str, float]) -> Any:
    """The finite difference at `point`, compared with the claim's value there."""
    from backprop.engine.fd import finite_differences

    values = forward(built.graph, point, GATES)
    own = values[: judge.size]
    grads = backward(program, own, GATES)
    _, kinked = _notes(program, own, grads, GATES)
    claimed: list[float | None] = list(grads)
    claimed[judge.input] = values[built.node]
    return finite_differences(program, point, claimed, kinked, GATES, [built.claim.wrt])[
        built.claim.wrt
    ]
