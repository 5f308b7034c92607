"""What a drawing of the graph shows: nodes, edges, and the walk of a text tree.

A `Drawing` is the graph as a picture needs it: each node with its seed-style
gate name, its sub-expression and (when the graph was evaluated) its value
and gradient; each edge from an input to the gate reading it, with the
input's name (w, h1, or [7] for an unnamed gate) and the gradient the
backward pass sent back along it. The
DOT, Mermaid and text renderers (in the cli package) only format it.

Nothing here recurses: a 50,000-deep chain walks in a loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backprop.engine.api import Result
from backprop.engine.explain import Explanation, gate_view, operand_name
from backprop.engine.graph import Graph
from backprop.engine.passes import depends_on_inputs


@dataclass(frozen=True)
class DrawNode:
    """One node as drawn: kind is "input", "constant" or "gate"."""

    id: int
    kind: str
    op: str
    gate: str  # the input's name, the constant as written, or the seed-style gate name
    text: str
    inputs: tuple[int, ...]
    value: float | None  # None: not evaluated
    grad: float | None  # None: not evaluated, or the node depends on no input
    uses: int  # how many gate inputs read this node (more than one: a fan-out)
    name: str = ""  # the name the program assigned this node, if any


@dataclass(frozen=True)
class DrawEdge:
    """Input `source` of gate `target`, its placeholder `var`, called `name` (w, h1, [7])."""

    source: int
    target: int
    var: str
    grad: float | None  # the gradient the backward pass sent along the edge
    name: str = ""


@dataclass(frozen=True)
class Drawing:
    """The nodes and edges, the output, and the roots of a text tree."""

    nodes: tuple[DrawNode, ...]
    edges: tuple[DrawEdge, ...]
    output: int
    evaluated: bool
    roots: tuple[int, ...]  # the output, then each node no gate reads (an unused statement)
    depth: int  # the longest path, in edges, from a root down to an input

    @property
    def unused(self) -> tuple[int, ...]:
        """Roots other than the output: statements that do not reach it."""
        return tuple(r for r in self.roots if r != self.output)


def _build(
    ops: Sequence[str],
    inputs: Sequence[tuple[int, ...]],
    texts: Sequence[str],
    constant: Sequence[bool],
    output: int,
    values: Sequence[float] | None = None,
    grads: Sequence[float | None] | None = None,
    edge_grads: dict[tuple[int, str], float] | None = None,
    names: Sequence[str] | None = None,
) -> Drawing:
    count = len(ops)
    names = names or [""] * count
    uses = [0] * count
    for ins in inputs:
        for j in ins:
            uses[j] += 1
    nodes = []
    edges = []
    for i in range(count):
        op, ins = ops[i], inputs[i]
        if not ins:
            kind = "input" if op == "var" else "constant"
            gate = texts[i]
        else:
            kind = "gate"
            operands = [(ops[j], texts[j], constant[j]) for j in ins]
            view = gate_view(op, operands, [values[j] for j in ins] if values else None)
            gate = view.name
            for k, j in enumerate(ins):
                grad = None
                if edge_grads is not None and not constant[j]:
                    grad = edge_grads.get((i, view.vars[k]))
                word = operand_name(j, texts[j], names[j], not inputs[j])
                edges.append(DrawEdge(j, i, view.vars[k], grad, word))
        nodes.append(
            DrawNode(
                i,
                kind,
                op,
                gate,
                texts[i],
                tuple(ins),
                values[i] if values is not None else None,
                grads[i] if grads is not None else None,
                uses[i],
                names[i],
            )
        )
    roots = (output, *(i for i in range(count) if uses[i] == 0 and i != output))
    # Longest path from a root: every consumer has a higher id, so one reverse loop.
    depth = [0] * count
    deepest = 0
    for i in range(count - 1, -1, -1):
        for j in inputs[i]:
            if depth[i] + 1 > depth[j]:
                depth[j] = depth[i] + 1
                deepest = max(deepest, depth[j])
    return Drawing(tuple(nodes), tuple(edges), output, values is not None, roots, deepest)


def from_graph(graph: Graph) -> Drawing:
    """The graph's structure alone, before any point is given."""
    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    return _build(
        [n.op for n in nodes],
        [n.inputs for n in nodes],
        [n.label if n.op == "var" else graph.text(n) for n in nodes],
        [not d for d in depends],
        graph.output,
        names=[graph.names.get(i, "") for i in range(len(nodes))],
    )


def from_explanation(result: Result, doc: Explanation) -> Drawing:
    """The evaluated graph: values, gradients, and the gradient along each edge."""
    nodes = result.nodes
    # One edge per input position: x*x has two edges from x, one per placeholder.
    # The numbers are the backward pass's (explain reads its trace).
    edge_grads = {(step.id, send.var): send.grad for step in doc.backward for send in step.sends}
    return _build(
        [n.op for n in nodes],
        [n.inputs for n in nodes],
        [n.text for n in nodes],
        [n.grad is None for n in nodes],
        result.output,
        [n.value for n in nodes],
        [n.grad for n in nodes],
        edge_grads,
        [n.name for n in nodes],
    )


@dataclass(frozen=True)
class TreeRow:
    """One line of a text tree.

    `lasts[k]` says whether the row's ancestor at depth k + 1 (or the row
    itself, for the final entry) is the last child of its parent: the renderer
    draws the guides from it. `reference` marks a node already shown above.
    """

    node: int
    depth: int
    lasts: tuple[bool, ...]
    reference: bool
    root: bool


def tree_rows_count(drawing: Drawing) -> int:
    """How many rows `tree_rows` yields: one per root and one per edge."""
    return len(drawing.roots) + len(drawing.edges)


def tree_rows(drawing: Drawing) -> list[TreeRow]:
    """The graph as trees from its roots, each shared node shown once (pre-order, no recursion)."""
    nodes = drawing.nodes
    shown = [False] * len(nodes)
    rows: list[TreeRow] = []
    for root in drawing.roots:
        stack: list[tuple[int, tuple[bool, ...]]] = [(root, ())]
        while stack:
            i, lasts = stack.pop()
            reference = shown[i]
            rows.append(TreeRow(i, len(lasts), lasts, reference, not lasts))
            if reference:
                continue
            shown[i] = True
            ins = nodes[i].inputs
            for k in range(len(ins) - 1, -1, -1):
                stack.append((ins[k], (*lasts, k == len(ins) - 1)))
    return rows
