"""Finite differences: a third opinion on each input's gradient, in floats, without SymPy.

For an input x the step h is the power of two nearest cbrt(eps) * max(1, |x|)
(a power of two, so that x +- h and x +- 2h are exact for |x| >= h), and the
difference is the fourth-order central one, Richardson's extrapolation of the
central differences with steps h and 2h:

    fd = (8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / (12 h)

Its truncation error is O(h^4), far below its rounding error (about
eps |f| / h), so it is more accurate than the plain central difference with
the same step. It is compared with the engine's gradient by the relative
error |a - n| / max(|a|, |n|), in CS231n's bands: below 1e-7 good, below 1e-4
fine (acceptable where the function has kinks), below 1e-2 uneasy, above
that wrong. A difference within the finite difference's own rounding (an
exact 0 against 1e-12 of noise) counts as none.

Kinks: a derivative is piecewise smooth, and its pieces are chosen by the
`where` and `sign` gates of the derived graph (relu, abs and max/min write
their rules with them). Those gates' conditions at x - 2h .. x + 2h are the
"side" of each point: where they are all the same, the function is smooth
across the stencil. At a kink of the point itself (the engine flags relu(0),
abs(0), a max/min tie) the result is a `kink` with the one-sided differences
left and right; where a kink lies within the stencil but not at the point,
the one-sided difference on the smooth side is used instead (second order).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backprop.engine.errors import DomainError, NumericError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph
from backprop.engine.passes import forward

EPS = sys.float_info.epsilon
CBRT_EPS = EPS ** (1.0 / 3.0)
# CS231n's bands of the relative error: the upper bound of each, in order.
BANDS = ((1e-7, "good"), (1e-4, "fine"), (1e-2, "uneasy"))
FD_VERDICTS = ("good", "fine", "uneasy", "wrong", "kink")
# A program value is within a few eps of the exact one; the allowance for the
# difference's rounding is generous with that, so that noise is never "wrong".
ROUNDING_ULPS = 16.0
# Five forward passes per input: refuse past this many node evaluations in all.
MAX_WORK = 50_000_000


@dataclass(frozen=True)
class FiniteDifference:
    """One input's finite difference and how it compares with a gradient.

    `value` is None at a kink (then `left` and `right` are the one-sided
    differences) or where the program cannot be evaluated near the point;
    `verdict` is one of FD_VERDICTS, or None with `note` saying why.
    """

    step: float
    value: float | None
    relative_error: float | None = None
    verdict: str | None = None
    left: float | None = None
    right: float | None = None
    note: str = ""


def step_for(x: float) -> float:
    """The power of two nearest cbrt(eps) * max(1, |x|)."""
    return 2.0 ** round(math.log2(CBRT_EPS * max(1.0, abs(x))))


def relative_error(a: float, n: float) -> float:
    """|a - n| / max(|a|, |n|) (0 where both are 0)."""
    scale = max(abs(a), abs(n))
    return 0.0 if scale == 0 else abs(a - n) / scale


def band(error: float) -> str:
    """The CS231n band of a relative error."""
    for bound, name in BANDS:
        if error < bound:
            return name
    return "wrong"


class _Probe:
    """The program's output, and which side of every kink it is on, at nearby points."""

    def __init__(self, graph: Graph, gates: Mapping[str, Gate]) -> None:
        from backprop.engine.derive import reverse

        self.graph = graph
        self.gates = gates
        derived = reverse(graph)
        self.derived = derived
        # The selections of the derivative: where(c, t, f) picks by c > 0 and
        # sign(a) by a's sign; those the gradients read (the rule of a**b builds
        # one for the exponent's share even where b is a constant), and the
        # nodes they read.
        used = [False] * len(derived.ops)
        for i in derived.gradients.values():
            used[i] = True
        for i in range(len(derived.ops) - 1, -1, -1):
            if used[i]:
                for j in derived.inputs[i]:
                    used[j] = True
        chosen = [
            i
            for i, op in enumerate(derived.ops)
            if op in ("where", "sign") and derived.inputs[i] and used[i]
        ]
        self.conditions = [(i, derived.ops[i] == "where") for i in chosen]
        needed = [False] * len(derived.ops)
        for i, _ in self.conditions:
            needed[derived.inputs[i][0]] = True
        for i in range(len(derived.ops) - 1, derived.original - 1, -1):
            if needed[i]:
                for j in derived.inputs[i]:
                    needed[j] = True
        self.extra = [i for i in range(derived.original, len(derived.ops)) if needed[i]]

    def at(self, point: Mapping[str, float]) -> tuple[float, tuple[object, ...]] | None:
        """The output and the side of each selection at `point`; None where undefined."""
        from backprop.engine.arith import floats

        try:
            values = forward(self.graph, point, self.gates)
        except (DomainError, NumericError):
            return None
        derived = self.derived
        known: dict[int, float] = {}
        arithmetic = floats()

        def value(j: int) -> float:
            return values[j] if j < derived.original else known[j]

        for i in self.extra:
            op = derived.ops[i]
            if op == "const":
                known[i] = derived.values[i]
            else:
                args = [value(j) for j in derived.inputs[i]]
                known[i] = getattr(arithmetic, op)(*args)
        sides: list[object] = []
        for i, is_where in self.conditions:
            c = value(derived.inputs[i][0])
            sides.append(c > 0 if is_where else (c > 0) - (c < 0))
        return values[self.graph.output], tuple(sides)


def finite_differences(
    graph: Graph,
    point: Mapping[str, float],
    grads: Sequence[float | None],
    kinked: Sequence[bool],
    gates: Mapping[str, Gate] = GATES,
    names: Sequence[str] | None = None,
) -> dict[str, FiniteDifference]:
    """Each input's finite difference at `point` (or those in `names`), compared with
    `grads` (the engine's, or a claimed derivative's value at the input's id).

    `kinked[i]` is the engine's flag: node i's gradient passes a gate at a
    non-differentiable point.
    """
    wanted = list(graph.inputs) if names is None else list(names)
    work = 5 * len(graph.nodes) * len(wanted)
    if work > MAX_WORK:
        from backprop.parser.errors import BackpropError

        raise BackpropError(
            f"--fd needs 4 more forward passes per input: {len(wanted):,} inputs of "
            f"{len(graph.nodes):,} nodes is over its limit of {MAX_WORK:,} node evaluations",
            kind="limit",
        )
    probe = _Probe(graph, gates)
    centre = probe.at(point)
    assert centre is not None, "the point itself was evaluated already"
    out: dict[str, FiniteDifference] = {}
    for name in wanted:
        i = graph.inputs[name]
        out[name] = _one(probe, dict(point), name, centre, grads[i], kinked[i])
    return out


def _one(
    probe: _Probe,
    point: dict[str, float],
    name: str,
    centre: tuple[float, tuple[object, ...]],
    grad: float | None,
    kinked: bool,
) -> FiniteDifference:
    x = point[name]
    h = step_for(x)
    probes: dict[int, tuple[float, tuple[object, ...]] | None] = {0: centre}
    for k in (-2, -1, 1, 2):
        probes[k] = probe.at({**point, name: x + k * h})
    f = {k: p[0] for k, p in probes.items() if p is not None}
    side = {k: p[1] for k, p in probes.items() if p is not None}

    def same(*ks: int) -> bool:
        return all(k in side and side[k] == side[0] for k in ks)

    def one_sided(sign: int) -> tuple[float, float, str] | None:
        """Second-order one-sided difference (and a first-order one to gauge it)."""
        if not same(sign):
            return None
        first = sign * (f[sign] - f[0]) / h
        if not same(2 * sign):
            return first, first, "first order"
        second = sign * (-3.0 * f[0] + 4.0 * f[sign] - f[2 * sign]) / (2.0 * h)
        return second, first, "second order"

    if same(-2, -1, 1, 2):
        value = (8.0 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12.0 * h)
        rough = (f[1] - f[-1]) / (2.0 * h)  # the plain central difference, to gauge it
        noise = 8.0 * (abs(f[1]) + abs(f[-1])) + abs(f[2]) + abs(f[-2])
        noise = ROUNDING_ULPS * EPS * noise / (12.0 * h)
        return _compare(h, value, rough, noise, grad, "")
    left, right = one_sided(-1), one_sided(1)
    if kinked or (left is None and right is None):
        if kinked:
            note = f"{name} is at a kink: the derivative is not defined there"
            lone, rone = _simple_side(f, -1, h), _simple_side(f, 1, h)
            if lone is not None and rone is not None and _sides_agree(lone, rone, h):
                # relu(x)^2 or x + 0*abs(x) at 0: a gate's kink, but the function is
                # differentiable there: compare with the sides' mean.
                found = _compare(
                    h,
                    (lone + rone) / 2.0,
                    lone,
                    0.0,
                    grad,
                    f"{name} is at a gate's kink, but the one-sided differences agree",
                )
                if found.verdict in ("good", "fine"):
                    return found
                note = (
                    f"{name} is at a gate's kink; the one-sided differences agree, but the "
                    "gate's convention there (PyTorch's) gives another gradient"
                )
        elif left is None and right is None and not ({-1, 1} <= side.keys()):
            return FiniteDifference(
                h, None, note=f"the program is undefined within {h!r} of the point"
            )
        else:
            lone, rone = _simple_side(f, -1, h), _simple_side(f, 1, h)
            if lone is not None and rone is not None and relative_error(lone, rone) < 1e-4:
                # The branches on either side have the same slope: no kink after all.
                note = f"a selection changes within {h!r} on both sides; the mean of the sides"
                rough = lone if abs(lone - rone) > 0 else rone
                return _compare(h, (lone + rone) / 2.0, rough, 0.0, grad, note)
            note = f"a kink lies within {h!r} of the point on both sides"
        return FiniteDifference(
            h,
            None,
            verdict="kink",
            left=_simple_side(f, -1, h),
            right=_simple_side(f, 1, h),
            note=note,
        )
    use, where = (right, "right") if right is not None else (left, "left")
    assert use is not None
    value, rough, order = use
    k = 1 if where == "right" else -1
    noise = 3.0 * abs(f[0]) + 4.0 * abs(f.get(k, 0.0)) + abs(f.get(2 * k, 0.0))
    noise = ROUNDING_ULPS * EPS * noise / (2.0 * h)
    why = "a kink" if all(j in side for j in (-2, -1, 1, 2)) else "the edge of the domain"
    note = f"one-sided difference to the {where} ({order}): {why} lies within {2 * h!r}"
    return _compare(h, value, rough, noise, grad, note)


def _sides_agree(left: float, right: float, h: float) -> bool:
    """The one-sided differences at a kink agree: within 1e-4 of each other, or of h
    where both are near 0 (their truncation error is of order h^2)."""
    return abs(left - right) <= 1e-4 * max(abs(left), abs(right), h)


def _simple_side(f: Mapping[int, float], sign: int, h: float) -> float | None:
    """The one-sided difference on one side of a kink (second order where it can be)."""
    if sign not in f:
        return None
    if 2 * sign in f:
        return sign * (-3.0 * f[0] + 4.0 * f[sign] - f[2 * sign]) / (2.0 * h) + 0.0
    return sign * (f[sign] - f[0]) / h + 0.0  # + 0.0: no -0.0 for a flat side


def _compare(
    h: float, value: float, rough: float, noise: float, grad: float | None, note: str
) -> FiniteDifference:
    """The verdict of `grad` against the difference `value` (`rough`: a cruder one)."""
    if not math.isfinite(value):
        return FiniteDifference(h, None, note="the finite difference overflows")
    if grad is None or not math.isfinite(grad):
        return FiniteDifference(
            h, value, note=f"the gradient is {grad}: a finite difference cannot check it"
        )
    error = relative_error(grad, value)
    scale = max(abs(grad), abs(value))
    # A difference within the finite difference's own rounding counts as none.
    effective = 0.0 if scale == 0 else max(0.0, abs(grad - value) - noise) / scale
    verdict = band(effective)
    if verdict == "wrong" and (
        abs(value - rough) >= 0.01 * abs(grad - value) or relative_error(value, rough) > 0.01
    ):
        # The differences with steps h and 2h disagree as much as it and the
        # gradient do, or by more than 1% of themselves: the function changes too
        # fast at this step (a pole or the domain's edge nearby, a fast oscillation).
        verdict = "uneasy"
        extra = "the finite difference is unreliable here: steps h and 2h disagree"
        note = f"{note}; {extra}" if note else extra
    elif effective < error and band(error) != verdict:
        extra = "the difference is within the finite difference's rounding"
        note = f"{note}; {extra}" if note else extra
    return FiniteDifference(h, value, error, verdict, note=note)
