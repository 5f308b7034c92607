"""Derivatives as graphs: each gate's vector-Jacobian product, and the reverse-mode transform.

Each gate's backward rule is one `vjp` function, written once, as autodidax
and PyTorch's derivatives.yaml write theirs:

    vjp(L, g, a, b, ..., out) -> (what flows to a, what flows to b, ...)

`g` is the gradient from above, `a, b, ...` the gate's inputs, `out` its
value, and `L` the arithmetic to use: `L.exp(a)`, `L.div(1.0, b)`, one
method per gate. With `floats()` the rule computes numbers
(the backward pass); with a `Builder` the same rule adds nodes to a graph
(the gradient as a program, which can be printed, evaluated exactly or
differentiated again). A rule returns None for an input that nothing flows
to; `L.where(c, t, f)` (t where c > 0, else f) selects instead of
multiplying by zero, so a flat gate stops an infinite gradient from above
(relu below 0 passes 0, not 0 * inf = nan).

The rules mirror the float arithmetic of the engine operation for operation,
so that the printed program, read back and evaluated, gives the engine's
gradient bit for bit. Nothing here recurses: the transform is one reverse loop,
and it adds a bounded number of nodes per gate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# The rules' float arithmetic (ieee, Arithmetic, floats) lives in arith.py; it is
# imported here for the transform's constant folding and for callers of derive.
from backprop.engine.arith import Arithmetic, floats, ieee  # noqa: F401
from backprop.engine.graph import Graph

INF = math.inf
NAN = math.nan

# --- the graph builder --------------------------------------------------------------


class Handle:
    """A node of the graph being built; arithmetic on handles adds nodes."""

    __slots__ = ("builder", "id")

    def __init__(self, builder: Builder, id: int) -> None:
        self.builder = builder
        self.id = id

    def _lift(self, other: Any) -> Handle:
        return other if isinstance(other, Handle) else self.builder.const(float(other))

    def __add__(self, other: Any) -> Handle:
        return self.builder.apply("add", self, self._lift(other))

    def __radd__(self, other: Any) -> Handle:
        return self.builder.apply("add", self._lift(other), self)

    def __sub__(self, other: Any) -> Handle:
        return self.builder.apply("sub", self, self._lift(other))

    def __rsub__(self, other: Any) -> Handle:
        return self.builder.apply("sub", self._lift(other), self)

    def __mul__(self, other: Any) -> Handle:
        return self.builder.apply("mul", self, self._lift(other))

    def __rmul__(self, other: Any) -> Handle:
        return self.builder.apply("mul", self._lift(other), self)

    def __neg__(self) -> Handle:
        return self.builder.apply("neg", self)


@dataclass
class Builder:
    """A growing graph: the original nodes first, then the nodes the rules add.

    Nodes are kept as parallel lists (op, inputs, constant value, label).
    A node whose inputs are all constants is folded into a constant, computed
    with the same float arithmetic as at run time, so folding never changes a
    number; so are the exact identities x*1, 1*x, --x and x**1.
    """

    ops: list[str]
    inputs: list[tuple[int, ...]]
    values: list[float]  # a constant's value (0.0 for other nodes)
    labels: list[str]  # an input's name or a constant as written ("" otherwise)
    constants: dict[tuple[float, float], int]

    @classmethod
    def from_graph(cls, graph: Graph) -> Builder:
        nodes = graph.nodes
        return cls(
            [n.op for n in nodes],
            [n.inputs for n in nodes],
            [n.value for n in nodes],
            [n.label for n in nodes],
            {},
        )

    def const(self, x: float) -> Handle:
        key = (x, math.copysign(1.0, x))
        found = self.constants.get(key)
        if found is None:
            found = self._append("const", (), x, "")
            self.constants[key] = found
        return Handle(self, found)

    def _append(self, op: str, ins: tuple[int, ...], value: float = 0.0, label: str = "") -> int:
        self.ops.append(op)
        self.inputs.append(ins)
        self.values.append(value)
        self.labels.append(label)
        return len(self.ops) - 1

    def _constant(self, h: Handle) -> float | None:
        return self.values[h.id] if self.ops[h.id] == "const" else None

    def apply(self, op: str, *args: Handle) -> Handle:
        known = [self._constant(a) for a in args]
        if all(k is not None for k in known):
            value = getattr(floats(), op)(*known)
            if math.isfinite(value):
                return self.const(value)
        if op == "mul" and known[1] == 1.0:
            return args[0]
        if op == "mul" and known[0] == 1.0:
            return args[1]
        if op == "neg" and self.ops[args[0].id] == "neg":
            return Handle(self, self.inputs[args[0].id][0])
        if op == "pow" and known[1] == 1.0:
            return args[0]
        if op == "where" and known[0] is not None:
            return args[1] if known[0] > 0 else args[2]
        if op == "where" and args[1].id == args[2].id:
            return args[1]
        return Handle(self, self._append(op, tuple(a.id for a in args)))

    # The arithmetic the rules call, one method per gate (Arithmetic's twin).

    def _lift(self, x: Any) -> Handle:
        return x if isinstance(x, Handle) else self.const(float(x))

    def call(self, op: str, *args: Any) -> Handle:
        return self.apply(op, *(self._lift(a) for a in args))

    def __getattr__(self, op: str) -> Callable[..., Handle]:
        if op.startswith("_"):
            raise AttributeError(op)
        return functools.partial(self.call, op)


# --- the transform -------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """A graph extended by adjoint nodes.

    The first `original` nodes are the program's own; `adjoints[i]` is the
    node holding d output / d node i (None where nothing flows or the node
    has no gradient); `gradients` maps each input to its adjoint node.
    """

    ops: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    values: tuple[float, ...]
    labels: tuple[str, ...]
    original: int
    output: int
    adjoints: tuple[int | None, ...]
    gradients: dict[str, int]


def reverse(graph: Graph) -> Derived:
    """The reverse-mode transform: one reverse walk over the nodes, one rule call per gate.

    A node used more than once collects the contributions with add nodes, in
    the order the walk meets them (the backward pass's order). An input that
    receives nothing has gradient 0.
    """
    from backprop.engine.gates import GATES
    from backprop.engine.passes import depends_on_inputs, live_nodes

    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    b = Builder.from_graph(graph)
    adjoint: list[int | None] = [None] * len(nodes)
    if depends[graph.output]:
        adjoint[graph.output] = b.const(1.0).id
    for i in range(graph.output, -1, -1):
        node = nodes[i]
        upstream = adjoint[i]
        if upstream is None or not node.inputs or not live[i]:
            continue
        rule = GATES[node.op].vjp
        args = [Handle(b, j) for j in node.inputs]
        sent = rule(b, Handle(b, upstream), *args, Handle(b, i))
        for j, contribution in zip(node.inputs, sent):
            if contribution is None or not depends[j]:
                continue
            c = b._lift(contribution)
            before = adjoint[j]
            adjoint[j] = c.id if before is None else b.apply("add", Handle(b, before), c).id
    gradients: dict[str, int] = {}
    for name, i in graph.inputs.items():
        found = adjoint[i]
        gradients[name] = found if found is not None else b.const(0.0).id
    return Derived(
        tuple(b.ops),
        tuple(b.inputs),
        tuple(b.values),
        tuple(b.labels),
        len(nodes),
        graph.output,
        tuple(adjoint),
        gradients,
    )


def evaluate_floats(derived: Derived, values: Sequence[float]) -> list[float]:
    """Every node's value: the program's own from `values`, then the adjoint nodes
    in IEEE arithmetic (a derivative may be infinite or nan)."""
    arithmetic = floats()
    out = list(values[: derived.original])
    for i in range(derived.original, len(derived.ops)):
        op = derived.ops[i]
        if op == "const":
            out.append(derived.values[i])
            continue
        out.append(getattr(arithmetic, op)(*[out[j] for j in derived.inputs[i]]))
    return out
