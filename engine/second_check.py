"""The Hessian's gate-by-gate check: SymPy's derivatives of each gate, chained in 113 bits.

Independent of the vjp rules the engine runs: each gate's value, first and
second partial derivatives are SymPy's derivatives of the gate's own SymPy
form (the gate table's `sympy` column), compiled once per gate and evaluated
with mpmath at 113 bits. They are chained the textbook way, which never
builds a derivative graph:

    forward    t_i = sum_k f_k t_k                (tangents along each e_j)
    reverse    a_k += a_i f_k                     (adjoints)
               b_k += b_i f_k + a_i sum_l f_kl t_l   (the adjoints' tangents)

and the tangent of input x_i's adjoint along e_j is d^2 out / dx_i dx_j.
Linear in the graph times the number of inputs, one loop each way: what the
whole-program check (SymPy's `diff`, quadratic and recursive) cannot reach
gets this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from backprop.engine.gates import GATES
from backprop.engine.graph import Graph
from backprop.engine.passes import depends_on_inputs, live_nodes

# Work units: nodes times inputs per second of budget (each unit a few
# 113-bit operations, about 10 microseconds on a 2020s laptop core).
LOCAL_UNITS_PER_SECOND = 20_000


class _Second:
    """Each gate's compiled SymPy value, first and second partial derivatives."""

    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator
        self.rules: dict[tuple[str, int], Any] = {}

    def rule(self, op: str, arity: int) -> Any:
        key = (op, arity)
        if key not in self.rules:
            from backprop.engine.check import _Unsupported

            ev = self.evaluator
            sp = ev.sp
            symbols = [sp.Symbol(f"a{k}", real=True) for k in range(arity)]
            expr = GATES[op].sympy(sp, *symbols)
            firsts = [sp.powsimp(sp.diff(expr, s)) for s in symbols]
            try:
                compiled = (
                    ev.compile(expr, symbols),
                    [ev.compile(f, symbols) for f in firsts],
                    [
                        [ev.compile(sp.powsimp(sp.diff(f, s)), symbols) for s in symbols]
                        for f in firsts
                    ],
                )
            except _Unsupported:
                compiled = None
            self.rules[key] = compiled
        return self.rules[key]


def gate_by_gate(
    graph: Graph,
    point: Mapping[str, float],
    wanted: Sequence[str],
    tick: Callable[[], None] | None = None,
) -> list[list[Any]] | None:
    """The Hessian over `wanted` by SymPy's gate derivatives (113-bit mpmath numbers), or
    None where a gate's SymPy form is beyond the evaluator."""
    import mpmath
    import sympy
    from backprop.engine.check import PRECISION_BITS, _Evaluator

    ctx = mpmath.MPContext()
    ctx.prec = PRECISION_BITS
    ev = _Evaluator(sympy, ctx)
    second = _Second(ev)
    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    n = len(wanted)
    zero = ctx.zero
    column = {graph.inputs[name]: k for k, name in enumerate(wanted)}
    values: list[Any] = []
    tangent: list[list[Any] | None] = [None] * len(nodes)
    firsts: list[list[Any] | None] = [None] * len(nodes)
    args_of: list[list[Any] | None] = [None] * len(nodes)
    # 1. Forward: values and tangents along each e_j.
    for i, node in enumerate(nodes):
        if tick is not None and not i % 64:
            tick()
        if node.op == "var":
            values.append(ctx.mpf(point[node.label]))
            if i in column:
                unit = [zero] * n
                unit[column[i]] = ctx.one
                tangent[i] = unit
            continue
        if node.op == "const":
            label = node.label
            values.append(
                +ctx.pi if label == "pi" else +ctx.e if label == "e" else ctx.mpf(node.value)
            )
            continue
        compiled = second.rule(node.op, len(node.inputs))
        if compiled is None:
            return None
        args = [values[j] for j in node.inputs]
        values.append(ev.real(ev.run(compiled[0], args)))
        if not depends[i]:
            continue
        f = [ev.real(ev.run(code, args)) for code in compiled[1]]
        firsts[i] = f
        args_of[i] = args
        total = [zero] * n
        for k, j in enumerate(node.inputs):
            t = tangent[j]
            if t is not None:
                total = [a + f[k] * b for a, b in zip(total, t)]
        tangent[i] = total
    # 2. Reverse: adjoints and their tangents.
    adjoint: list[Any] = [zero] * len(nodes)
    moving: list[list[Any]] = [[zero] * n for _ in nodes]
    adjoint[graph.output] = ctx.one
    for i in range(graph.output, -1, -1):
        if tick is not None and not i % 64:
            tick()
        node = nodes[i]
        if not node.inputs or not live[i]:
            continue
        found_f, found_args = firsts[i], args_of[i]
        assert found_f is not None and found_args is not None
        f, args = found_f, found_args
        compiled = second.rule(node.op, len(node.inputs))
        a_i, b_i = adjoint[i], moving[i]
        for k, j in enumerate(node.inputs):
            if not depends[j]:
                continue
            adjoint[j] += a_i * f[k]
            row = [b * f[k] for b in b_i]
            if a_i:
                for m, jm in enumerate(node.inputs):
                    t = tangent[jm]
                    if t is None:
                        continue
                    fkl = ev.real(ev.run(compiled[2][k][m], args))
                    row = [r + a_i * fkl * x for r, x in zip(row, t)]
            moving[j] = [x + y for x, y in zip(moving[j], row)]
    return [list(moving[graph.inputs[name]]) for name in wanted]
