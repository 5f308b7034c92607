"""`hessian(source, at)`: the matrix of second derivatives, forward over reverse.

The reverse-mode transform (`derive.reverse`) turns the program into a
bigger graph whose extra nodes are the adjoints, d out / d x_i. Forward mode
(`forward.tangent_vectors`) then runs over that graph along each unit
direction e_j at once: the tangent of the adjoint node of x_i along e_j is
d^2 out / d x_i d x_j. That is n forward sweeps over a graph a few times the
program's size, the cost of about n gradients, and no symbolic expansion.
The same rules of the gate table run in both transforms, so at a kink or a
flat gate the second derivatives follow the first order's conventions
(PyTorch's): relu''s slope is a `where`, whose derivative is again a `where`.

The check: SymPy differentiates the whole program twice (inputs' symbols,
exact arithmetic at the point), pair by pair within a CPU-time budget; an
entry that disagrees is computed again in 40 digits by the same two
transforms (mpmath): if that agrees with SymPy, float rounding lost the
entry (`inaccurate`); if not, a rule is wrong (`mismatch`). Entries whose
derivative passes a non-differentiable point are `n/a`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backprop.engine.api import (
    METHODS,
    VERDICTS,
    Check,
    _notes,
    known_inputs,
    resolve_point,
    skipped_check,
)
from backprop.engine.build import build_graph
from backprop.engine.derive import Derived, evaluate_floats, floats, reverse
from backprop.engine.errors import InputError
from backprop.engine.forward import tangent_vectors
from backprop.engine.gates import GATES
from backprop.engine.graph import Graph
from backprop.engine.passes import backward, forward
from backprop.parser import parse, shorten
from backprop.parser.parse import cycle_collector_paused

REL_TOL = 1e-9
ABS_TOL = 1e-12
EXACT_DIGITS = 40  # the reconciliation's digits (an entry that disagrees with SymPy)
# Whole-program second derivatives by SymPy: on graphs up to this many nodes,
# and for at most this many distinct entries (n = 30 inputs).
EXPRESSION_LIMIT = 2_000
ENTRY_LIMIT = 465
ZERO_EIGENVALUE = 1e-10  # relative to the largest |eigenvalue|: counts as 0


@dataclass(frozen=True)
class Hessian:
    """The Hessian at a point, its eigenvalues and what they say, and the check."""

    source: str
    at: dict[str, float]
    inputs: tuple[str, ...]  # rows and columns, in the program's input order
    value: float
    gradient: dict[str, float | None]
    matrix: tuple[tuple[float, ...], ...]  # may hold inf or nan (null in JSON, with a note)
    eigenvalues: tuple[float, ...] | None  # None where an entry is not finite
    definiteness: str | None
    meaning: str
    symmetry: str  # "bit for bit", "within rounding" or "not symmetric"
    asymmetry: float  # the largest |H[i][j] - H[j][i]|, relative to the largest |entry|
    sympy: tuple[tuple[float | None, ...], ...]
    verdicts: tuple[tuple[str, ...], ...]
    reasons: tuple[tuple[str, ...], ...]
    check: Check
    notes: tuple[str, ...]
    program_nodes: int
    derived_nodes: int
    sweeps: int
    digits: int | None = None
    matrix_exact: tuple[tuple[str, ...], ...] | None = None
    eigenvalues_exact: tuple[str, ...] | None = None


def wanted_inputs(graph: Graph, wrt: Sequence[str] | None) -> list[str]:
    """The inputs asked for, in the program's input order; an unknown name is an InputError."""
    names = known_inputs(graph, wrt)
    if not wrt:
        return names
    repeated = [n for n in dict.fromkeys(wrt) if list(wrt).count(n) > 1]
    if repeated:
        raise InputError(f"{shorten(repeated[0])} is given twice in --wrt")
    return [n for n in names if n in set(wrt)]


def second_derivatives(
    derived: Derived, values: Sequence[float], wanted: Sequence[str], graph: Graph
) -> list[list[float]]:
    """H[a][b] = d^2 out / d wanted[a] d wanted[b]: forward mode over the derived graph."""
    every = evaluate_floats(derived, values)
    seeds = [graph.inputs[name] for name in wanted]
    vectors = tangent_vectors(
        derived.ops, derived.inputs, every, seeds, (floats(safe=False), floats(safe=True))
    )
    rows = []
    for name in wanted:
        found = vectors[derived.gradients[name]]
        rows.append(list(found) if found is not None else [0.0] * len(wanted))
    return rows


def hessian(
    source: str,
    at: Mapping[str, float] | None = None,
    wrt: Sequence[str] | None = None,
    *,
    check: bool = True,
    check_seconds: float | None = None,
    digits: int | None = None,
) -> Hessian:
    """Parse, evaluate, and take the Hessian over `wrt` (default: every input)."""
    with cycle_collector_paused():
        graph = build_graph(parse(source))
        point = resolve_point(graph, at or {})
        wanted = wanted_inputs(graph, wrt)
        values = forward(graph, point)
        grads = backward(graph, values)
        node_notes, kinked = _notes(graph, values, grads, GATES)
        derived = reverse(graph)
        matrix = second_derivatives(derived, values, wanted, graph)
    n = len(wanted)
    ids = [graph.inputs[name] for name in wanted]
    notes: list[str] = []
    kinks = sorted(
        {
            note
            for ns in node_notes.values()
            for note in ns
            if "differentiable" in note or "tie" in note
        }
    )
    notes += kinks
    exact_texts = None
    eigen_exact: tuple[str, ...] | None = None
    if digits is not None:
        exact = exact_hessian(graph, derived, point, wanted, digits)
        matrix = [[float(x) for x in row] for row in exact.rows]
        exact_texts = tuple(tuple(exact.text(x) for x in row) for row in exact.rows)
    for a in range(n):
        for b in range(n):
            x = matrix[a][b]
            if not math.isfinite(x):
                word = "nan" if math.isnan(x) else ("+inf" if x > 0 else "-inf")
                notes.append(f"d2/d{wanted[a]} d{wanted[b]} is {word}")
    symmetry, asymmetry = _symmetry(matrix)
    finite = all(math.isfinite(x) for row in matrix for x in row)
    eigenvalues = tuple(eigenvalues_of(_symmetrised(matrix))) if finite and n else None
    if digits is not None and finite and n:
        texts, found = exact_eigenvalues(exact, digits)
        eigenvalues = tuple(float(x) for x in found)
        eigen_exact = texts
    gradient = {name: grads[graph.inputs[name]] for name in graph.inputs}
    definiteness, meaning = classify(eigenvalues, [gradient[name] for name in wanted])
    flagged = [[kinked[ids[a]] or kinked[ids[b]] for b in range(n)] for a in range(n)]
    if check:
        sympy, verdicts, reasons, summary = check_hessian(
            graph, values, point, wanted, matrix, flagged, check_seconds, derived
        )
    else:
        sympy = tuple(tuple(None for _ in range(n)) for _ in range(n))
        verdicts = tuple(tuple("" for _ in range(n)) for _ in range(n))
        reasons = verdicts
        summary = skipped_check()
    return Hessian(
        source,
        point,
        tuple(wanted),
        values[graph.output],
        gradient,
        tuple(tuple(row) for row in matrix),
        eigenvalues,
        definiteness,
        meaning,
        symmetry,
        asymmetry,
        sympy,
        verdicts,
        reasons,
        summary,
        tuple(notes),
        len(graph.nodes),
        len(derived.ops),
        n,
        digits,
        exact_texts,
        eigen_exact,
    )


def _symmetrised(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    n = len(matrix)
    return [[(matrix[i][j] + matrix[j][i]) / 2 for j in range(n)] for i in range(n)]


def _symmetry(matrix: Sequence[Sequence[float]]) -> tuple[str, float]:
    """Whether H[i][j] == H[j][i] to the last bit, and the largest difference relative
    to the largest entry (an entry that is 0 exactly may come out as 1e-17)."""
    worst = 0.0
    exact = True
    n = len(matrix)
    scale = max((abs(x) for row in matrix for x in row if math.isfinite(x)), default=0.0)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = matrix[i][j], matrix[j][i]
            if a == b or (a != a and b != b):
                continue
            exact = False
            worst = max(worst, abs(a - b) / scale if scale else math.inf)
    if exact:
        return "bit for bit", 0.0
    return ("within rounding" if worst <= 1e-12 else "not symmetric"), worst


def jacobi_eigenvalues(matrix: Sequence[Sequence[float]], sweeps: int = 100) -> list[float]:
    """The eigenvalues of a real symmetric matrix, smallest first (cyclic Jacobi rotations;
    pure Python: numpy is not a dependency)."""
    a = [list(map(float, row)) for row in matrix]
    n = len(a)
    for _ in range(sweeps):
        off = math.fsum(a[i][j] ** 2 for i in range(n) for j in range(n) if i != j)
        if off == 0.0 or off <= 1e-30 * math.fsum(a[i][i] ** 2 for i in range(n)):
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                apq = a[p][q]
                if apq == 0.0:
                    continue
                theta = (a[q][q] - a[p][p]) / (2.0 * apq)
                t = math.copysign(1.0, theta) / (abs(theta) + math.hypot(theta, 1.0))
                c = 1.0 / math.hypot(t, 1.0)
                s = t * c
                for k in range(n):  # rotate rows p and q ...
                    akp, akq = a[k][p], a[k][q]
                    a[k][p] = c * akp - s * akq
                    a[k][q] = s * akp + c * akq
                for k in range(n):  # ... and columns p and q
                    apk, aqk = a[p][k], a[q][k]
                    a[p][k] = c * apk - s * aqk
                    a[q][k] = s * apk + c * aqk
    return sorted(a[i][i] for i in range(n))


def eigenvalues_of(matrix: Sequence[Sequence[float]]) -> list[float]:
    """The eigenvalues of a real symmetric matrix, smallest first: Householder reduction to
    a tridiagonal matrix, then the implicit QL iteration (tred2 and tqli of Numerical
    Recipes, eigenvalues only); O(n^3) once, where Jacobi sweeps it about ten times."""
    a = [list(map(float, row)) for row in matrix]
    n = len(a)
    if n == 0:
        return []
    d = [0.0] * n
    e = [0.0] * n
    # 1. Householder: a becomes tridiagonal (diagonal d, off-diagonal e).
    for i in range(n - 1, 0, -1):
        last = i - 1
        h = 0.0
        row = a[i]
        if last > 0:
            scale = math.fsum(abs(row[k]) for k in range(last + 1))
            if scale == 0.0:
                e[i] = row[last]
            else:
                for k in range(last + 1):
                    row[k] /= scale
                    h += row[k] * row[k]
                f = row[last]
                g = -math.sqrt(h) if f >= 0 else math.sqrt(h)
                e[i] = scale * g
                h -= f * g
                row[last] = f - g
                f = 0.0
                for j in range(last + 1):
                    aj = a[j]
                    g = sum(aj[k] * row[k] for k in range(j + 1))
                    g += sum(a[k][j] * row[k] for k in range(j + 1, last + 1))
                    e[j] = g / h
                    f += e[j] * row[j]
                hh = f / (h + h)
                for j in range(last + 1):
                    f = row[j]
                    e[j] = g = e[j] - hh * f
                    aj = a[j]
                    for k in range(j + 1):
                        aj[k] -= f * e[k] + g * row[k]
        else:
            e[i] = row[last]
    for i in range(n):
        d[i] = a[i][i]
    # 2. Implicit QL with shifts on the tridiagonal matrix.
    for i in range(1, n):
        e[i - 1] = e[i]
    e[n - 1] = 0.0
    eps = 2.220446049250313e-16
    for first in range(n):
        for _ in range(200):
            m = first
            while m < n - 1:
                if abs(e[m]) <= eps * (abs(d[m]) + abs(d[m + 1])):
                    break
                m += 1
            if m == first:
                break
            g = (d[first + 1] - d[first]) / (2.0 * e[first])
            r = math.hypot(g, 1.0)
            g = d[m] - d[first] + e[first] / (g + math.copysign(r, g))
            s = c = 1.0
            p = 0.0
            split = False
            for i in range(m - 1, first - 1, -1):
                f = s * e[i]
                b = c * e[i]
                r = math.hypot(f, g)
                e[i + 1] = r
                if r == 0.0:
                    d[i + 1] -= p
                    e[m] = 0.0
                    split = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
            if split:
                continue
            d[first] -= p
            e[first] = g
            e[m] = 0.0
    return sorted(d)


def classify(
    eigenvalues: Sequence[float] | None, gradient: Sequence[float | None]
) -> tuple[str | None, str]:
    """The definiteness of the Hessian and what it says about the point."""
    if eigenvalues is None:
        return None, "an entry is not finite: no eigenvalues"
    if not eigenvalues:
        return None, "no inputs"
    top = max(abs(x) for x in eigenvalues)
    zero = ZERO_EIGENVALUE * top
    pos = sum(1 for x in eigenvalues if x > zero)
    neg = sum(1 for x in eigenvalues if x < -zero)
    n = len(eigenvalues)
    steepest = max((abs(g) for g in gradient if g is not None), default=0.0)
    stationary = steepest == 0.0
    where = (
        "the gradient is 0 here"
        if stationary
        else f"the gradient is not 0 here (largest component {steepest:.3g}): "
        "not a stationary point"
    )
    if pos == n:
        kind, says = "positive definite", "a strict local minimum if the gradient is 0"
    elif neg == n:
        kind, says = "negative definite", "a strict local maximum if the gradient is 0"
    elif pos and neg:
        kind, says = "indefinite", "a saddle point if the gradient is 0"
    elif neg == 0:
        kind = "positive semidefinite"
        says = "curved upwards or flat: second derivatives cannot tell a minimum here"
    else:
        kind = "negative semidefinite"
        says = "curved downwards or flat: second derivatives cannot tell a maximum here"
    return kind, f"{says}; {where}"


# --- N digits: the same two transforms in mpmath -------------------------------------------


@dataclass(frozen=True)
class ExactHessian:
    rows: list[list[Any]]
    ctx: Any
    digits: int

    def text(self, x: Any) -> str:
        from backprop.engine.exact import decimal_text

        return decimal_text(self.ctx, x, self.digits)


def _exact_once(
    graph: Graph,
    derived: Derived,
    point: Mapping[str, float],
    wanted: Sequence[str],
    working: int,
    digits: int,
) -> ExactHessian:
    import mpmath
    import sympy
    from backprop.engine.check import _Evaluator
    from backprop.engine.exact import _Digits

    ctx = mpmath.MPContext()
    ctx.dps = working
    L = _Digits(_Evaluator(sympy, ctx), GATES)
    values: list[Any] = []
    for i, op in enumerate(derived.ops):
        if op == "var":
            values.append(ctx.mpf(point[derived.labels[i]]))
        elif op == "const":
            label = derived.labels[i] if i < derived.original else ""
            if label == "pi":
                values.append(+ctx.pi)
            elif label == "e":
                values.append(+ctx.e)
            elif label:
                values.append(ctx.mpf(label))  # the decimal as written
            else:
                values.append(ctx.mpf(derived.values[i]))
        else:
            values.append(getattr(L, op)(*[values[j] for j in derived.inputs[i]]))
    seeds = [graph.inputs[name] for name in wanted]
    vectors = tangent_vectors(derived.ops, derived.inputs, values, seeds, (L, L), ctx.zero, ctx.one)
    rows = []
    for name in wanted:
        found = vectors[derived.gradients[name]]
        rows.append(list(found) if found is not None else [ctx.zero] * len(wanted))
    return ExactHessian(rows, ctx, digits)


def exact_hessian(
    graph: Graph, derived: Derived, point: Mapping[str, float], wanted: Sequence[str], digits: int
) -> ExactHessian:
    """The Hessian in `digits` significant digits: at N + 10 digits, then twice as many,
    doubling until two runs agree to N digits (at most five runs), as `--digits` in eval."""
    working = digits + 10
    last = _exact_once(graph, derived, point, wanted, working, digits)
    for _ in range(4):
        working *= 2
        again = _exact_once(graph, derived, point, wanted, working, digits)
        same = all(
            last.text(a) == again.text(b)
            for ra, rb in zip(last.rows, again.rows)
            for a, b in zip(ra, rb)
        )
        if same:
            return again
        last = again
    return last


def exact_eigenvalues(exact: ExactHessian, digits: int) -> tuple[tuple[str, ...], list[Any]]:
    """The eigenvalues of the N-digit Hessian (symmetrised), by mpmath, smallest first."""
    ctx = exact.ctx
    n = len(exact.rows)
    m = ctx.matrix(n, n)
    for i in range(n):
        for j in range(n):
            m[i, j] = (exact.rows[i][j] + exact.rows[j][i]) / 2
    found = sorted(ctx.eigsy(m, eigvals_only=True))
    return tuple(exact.text(x) for x in found), found


# --- the check ---------------------------------------------------------------------------


@dataclass
class _Found:
    sympy: list[list[float | None]]
    verdicts: list[list[str]]
    reasons: list[list[str]]
    kinds: list[list[str | None]]
    exact: list[list[Any]] | None = None


def _judge(
    found: _Found,
    i: int,
    j: int,
    ours: float,
    theirs: float,
    kind: str,
    again: Any,
) -> None:
    """One entry's verdict against a reference; a disagreement is told apart (inaccurate or
    mismatch) by the same transforms in 40 digits (`again()` gives those rows, made once)."""
    from backprop.engine.check import compare

    verdict = compare(ours, theirs)
    reason = ""
    if verdict == "n/a":
        reason = f"the entry is {ours}; SymPy gives {theirs}"
    elif verdict == "mismatch":
        mine = float(again()[i][j])
        if math.isclose(mine, theirs, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            verdict = "inaccurate"
            error = abs(ours - theirs) / abs(theirs) if theirs else math.inf
            reason = (
                f"float64 rounding loses this entry: exact value {theirs!r}, "
                f"relative error {error:.2g}"
            )
        else:
            reason = f"SymPy's second derivative is {theirs!r}; 40 digits give {mine!r}"
    elif kind == "local":
        reason = "checked gate by gate"
    found.sympy[i][j] = theirs if math.isfinite(theirs) else None
    found.verdicts[i][j] = verdict
    found.reasons[i][j] = reason
    found.kinds[i][j] = kind


def check_hessian(
    graph: Graph,
    values: Sequence[float],
    point: Mapping[str, float],
    wanted: Sequence[str],
    matrix: Sequence[Sequence[float]],
    flagged: Sequence[Sequence[bool]],
    seconds: float | None,
    derived: Derived,
) -> tuple[Any, Any, Any, Check]:
    """Each entry against SymPy, within `seconds` of CPU time: first gate by gate
    (second_check: every entry, if the graph times the inputs fits the work units),
    then SymPy's second derivative of the whole program, entry by entry, as far as the
    time allows; an entry keeps the best check it got (see the module)."""
    import sympy as sp
    from backprop.engine.check import (
        DEFAULT_SECONDS,
        _clock,
        _deadline,
        _expressions,
        _OutOfTime,
        _to_float,
    )
    from backprop.engine.second_check import LOCAL_UNITS_PER_SECOND, gate_by_gate

    n = len(wanted)
    found = _Found(
        [[None] * n for _ in range(n)],
        [["not checked"] * n for _ in range(n)],
        [[""] * n for _ in range(n)],
        [[None] * n for _ in range(n)],
    )

    def again() -> list[list[Any]]:
        if found.exact is None:
            found.exact = exact_hessian(graph, derived, point, wanted, EXACT_DIGITS).rows
        return found.exact

    budget = DEFAULT_SECONDS if seconds is None else seconds
    started = _clock()

    def tick() -> None:
        if _clock() - started > budget:
            raise _OutOfTime

    why = ""
    local_why = ""
    pairs = [(a, b) for a in range(n) for b in range(a, n)]
    try:
        with _deadline(max(budget, 0.001)):
            # 1. Gate by gate, the whole matrix or none of it.
            units = len(graph.nodes) * max(n, 1)
            if units > LOCAL_UNITS_PER_SECOND * budget:
                local_why = (
                    f"the gate-by-gate check is given {LOCAL_UNITS_PER_SECOND:,} nodes times "
                    f"inputs a second, and this is {units:,}"
                )
            else:
                rows = gate_by_gate(graph, point, wanted, tick)
                if rows is None:
                    local_why = "the gate-by-gate check cannot evaluate a gate here"
                else:
                    for a in range(n):
                        for b in range(n):
                            if not flagged[a][b]:
                                theirs = float(rows[a][b]) if rows[a][b] == rows[a][b] else math.nan
                                _judge(found, a, b, matrix[a][b], theirs, "local", again)
            # 2. SymPy's second derivative of the whole program, entry by entry.
            if len(graph.nodes) > EXPRESSION_LIMIT:
                why = (
                    f"the graph has {len(graph.nodes):,} nodes, over the whole-program "
                    f"check's limit of {EXPRESSION_LIMIT:,}"
                )
            elif len(pairs) > ENTRY_LIMIT:
                why = (
                    f"{len(pairs):,} distinct entries, over the whole-program check's "
                    f"limit of {ENTRY_LIMIT}"
                )
            else:
                expressions, at = _expressions(sp, graph, values, GATES)
                output = expressions[graph.output]
                symbols = [expressions[graph.inputs[name]] for name in wanted]
                first: dict[int, Any] = {}
                for a, b in pairs:
                    tick()
                    if flagged[a][b]:
                        continue
                    if a not in first:
                        first[a] = sp.diff(output, symbols[a])
                    exact = sp.diff(first[a], symbols[b]).xreplace(at).evalf(30)
                    theirs = _to_float(sp, exact)
                    for i, j in {(a, b), (b, a)}:
                        if math.isnan(theirs) and found.verdicts[i][j] == "ok":
                            continue  # 0 * oo in SymPy's formula (a flat gate): keep gate by gate
                        _judge(found, i, j, matrix[i][j], theirs, "adjoint", again)
    except _OutOfTime:
        why = f"out of time (budget {budget:g} s)"
    except RecursionError:
        why = "SymPy ran out of recursion depth"
    for a in range(n):
        for b in range(n):
            if flagged[a][b]:
                found.verdicts[a][b] = "n/a"
                found.reasons[a][b] = "the derivative passes a non-differentiable point"
                found.kinds[a][b] = None
            elif found.verdicts[a][b] == "not checked":
                found.reasons[a][b] = "; ".join(w for w in (local_why, why) if w) or "not reached"
    counts = dict.fromkeys(VERDICTS, 0)
    methods = dict.fromkeys(METHODS, 0)
    for row, kinds in zip(found.verdicts, found.kinds):
        for v, kind in zip(row, kinds):
            counts[v] += 1
            if kind is not None:
                methods[kind] += 1
    from backprop.engine.check import status_of

    status = status_of(counts)
    parts = [f"{k:,} {verdict}" for verdict, k in sorted(counts.items()) if k]
    message = ", ".join(parts) if parts else "no entries"
    if methods["local"]:
        message += (
            f" ({methods['adjoint']:,} by SymPy's second derivative of the whole program, "
            f"{methods['local']:,} gate by gate)"
        )
    if counts["not checked"]:
        message += f"; {'; '.join(w for w in (local_why, why) if w)}"
    summary = Check(
        "sympy",
        status,
        "all entries" if status != "not checked" else "none",
        message,
        counts,
        methods,
    )
    return (
        tuple(tuple(r) for r in found.sympy),
        tuple(tuple(r) for r in found.verdicts),
        tuple(tuple(r) for r in found.reasons),
        summary,
    )
