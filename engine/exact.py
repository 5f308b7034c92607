"""N-digit arithmetic (`--digits N`): the forward and backward passes in mpmath.

The same graph, the same vjp rules of the gate table, another interpreter:
each gate's value is its SymPy counterpart (the gate table's `sympy`
column), compiled once into mpmath operations, evaluated with N significant
digits and some guard digits. Inputs are the floats they were given as;
number literals are the decimals as written (0.1 is one tenth), pi and e are
themselves. mpmath and SymPy are imported only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph

MIN_DIGITS = 16
MAX_DIGITS = 1000
GUARD_DIGITS = 10


class _Digits:
    """The rules' arithmetic in mpmath: one method per gate (`L.exp(a)`)."""

    def __init__(self, evaluator: Any, gates: Mapping[str, Gate]) -> None:
        self.evaluator = evaluator
        self.gates = gates

    def __getattr__(self, op: str) -> Any:
        if op.startswith("_") or op not in self.gates:
            raise AttributeError(op)
        gate = self.gates[op]

        def call(*args: Any) -> Any:
            ev = self.evaluator
            rule = ev.rule(gate, len(args))
            if rule is None:
                raise ValueError(f"{op} has no N-digit form")
            ctx = ev.ctx
            return ev.real(ev.run(rule.value, [ctx.mpf(a) for a in args]))

        return call


def decimal_text(ctx: Any, x: Any, digits: int) -> str:
    """An N-digit number (of mpmath context `ctx`) as a decimal string of `digits`
    significant digits: nan, inf and -inf by name."""
    if ctx.isnan(x):
        return "nan"
    if ctx.isinf(x):
        return "inf" if x > 0 else "-inf"
    return ctx.nstr(x, digits, min_fixed=-4, max_fixed=16)


@dataclass(frozen=True)
class Exact:
    """Every node's value and gradient in N digits (None: no gradient), as mpmath numbers."""

    digits: int
    values: tuple[Any, ...]
    grads: tuple[Any, ...]
    ctx: Any
    trace: tuple[Any, ...] | None = None  # the backward pass's Visits, in N digits

    def text(self, x: Any) -> str | None:
        """`x` as a decimal string of `digits` significant digits."""
        return None if x is None else decimal_text(self.ctx, x, self.digits)

    def texts(self) -> list[tuple[str | None, str | None]]:
        """Every value and gradient as N-digit decimal strings."""
        return [(self.text(v), self.text(g)) for v, g in zip(self.values, self.grads)]

    def floats(self) -> tuple[list[float], list[float | None]]:
        """The values and gradients rounded to the nearest floats."""
        values = [float(v) for v in self.values]
        grads = [None if g is None else float(g) for g in self.grads]
        return values, grads


ROUNDS = 5  # working precisions tried: N + 10 digits, then twice as many each time


def exact_passes(
    graph: Graph,
    point: Mapping[str, float],
    digits: int,
    depends: Sequence[bool],
    live: Sequence[bool],
    gates: Mapping[str, Gate] = GATES,
    trace: bool = False,
) -> Exact:
    """Forward and backward with `digits` correct significant digits (the float passes
    ran first, so the program is inside every gate's domain at the point).

    Cancellation eats digits ((1 - cos(x))/x^2 at x = 1e-5 loses about 20), so
    the passes run at N + 10 digits and again at twice that, doubling until two
    runs agree on every value and gradient to N digits (at most ROUNDS runs).
    With `trace`, the result records what the backward pass did at each gate
    (as the float pass's trace does, for `explain`).
    """
    working = digits + GUARD_DIGITS
    last = _passes(graph, point, digits, working, depends, live, gates, trace)
    for _ in range(ROUNDS - 1):
        working *= 2
        again = _passes(graph, point, digits, working, depends, live, gates, trace)
        if again.texts() == last.texts():
            return again
        last = again
    return last


def _passes(
    graph: Graph,
    point: Mapping[str, float],
    digits: int,
    working: int,
    depends: Sequence[bool],
    live: Sequence[bool],
    gates: Mapping[str, Gate],
    trace: bool = False,
) -> Exact:
    import mpmath
    import sympy
    from backprop.engine.check import _Evaluator

    ctx = mpmath.MPContext()
    ctx.dps = working
    evaluator = _Evaluator(sympy, ctx)
    L = _Digits(evaluator, gates)
    nodes = graph.nodes
    values: list[Any] = []
    for node in nodes:
        if node.op == "var":
            values.append(ctx.mpf(point[node.label]))
        elif node.op == "const":
            label = node.label
            if label == "pi":
                values.append(+ctx.pi)
            elif label == "e":
                values.append(+ctx.e)
            else:
                values.append(ctx.mpf(label))  # the decimal as written
        else:
            values.append(getattr(L, node.op)(*[values[j] for j in node.inputs]))
    grads: list[Any] = [None] * len(nodes)
    grads[graph.output] = ctx.one
    visits: list[Any] | None = [] if trace else None
    for i in range(graph.output, -1, -1):
        ins = nodes[i].inputs
        if not ins or not live[i]:
            continue
        upstream = grads[i]
        if upstream is None:
            continue  # nothing flowed here: nothing flows on
        gate = gates[nodes[i].op]
        args = [values[j] for j in ins]
        sent = gate.vjp(L, upstream, *args, values[i])
        if visits is not None:
            visits.append(_visit(L, ctx, gate, i, upstream, args, values[i], sent))
        for j, c in zip(ins, sent):
            if c is not None:
                grads[j] = c if grads[j] is None else grads[j] + c
    final = [(ctx.zero if g is None else g) if d else None for g, d in zip(grads, depends)]
    return Exact(
        digits, tuple(values), tuple(final), ctx, None if visits is None else tuple(visits)
    )


def _visit(
    L: Any, ctx: Any, gate: Gate, i: int, upstream: Any, args: list[Any], out: Any, sent: tuple
) -> Any:
    """The Visit the float pass records (passes.record_visit), in N digits: the local
    derivatives are the same vjp rule with a gradient of 1."""
    from backprop.engine.passes import record_visit

    local = tuple(ctx.zero if d is None else d for d in gate.vjp(L, ctx.one, *args, out))
    return record_visit(gate, i, upstream, args, out, sent, local)
