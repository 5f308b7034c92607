"""The computational graph: a flat list of nodes in evaluation order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from backprop.parser.errors import Span, printable


class _NodeFields(NamedTuple):
    id: int
    op: str
    inputs: tuple[int, ...]
    start: int
    end: int
    label: str
    value: float


class Node(_NodeFields):
    """One gate as written, or one input, or one constant.

    `id` is the node's position in the graph; `inputs` are ids of earlier
    nodes; `span` locates the sub-expression in the program text (`start`
    and `end`); `label` is an input's name or a constant as written; `value`
    is a constant's value. A tuple: a million of them are made in a fraction of
    a second, in 96 bytes each.
    """

    __slots__ = ()

    def __new__(
        cls,
        id: int,
        op: str,
        inputs: tuple[int, ...],
        span: tuple[int, int],
        label: str = "",
        value: float = 0.0,
    ) -> Node:
        return tuple.__new__(cls, (id, op, inputs, span[0], span[1], label, value))

    @property
    def span(self) -> Span:
        return Span(self[3], self[4])

    def __getnewargs__(self) -> tuple:  # pickle (a graph sent to a dask worker) calls __new__
        return (self[0], self[1], self[2], (self[3], self[4]), self[5], self[6])


def make_node(
    id: int, op: str, inputs: tuple[int, ...], start: int, end: int, label: str, value: float
) -> Node:
    """Node(id, op, inputs, Span(start, end), label, value), made without a Span."""
    return tuple.__new__(Node, (id, op, inputs, start, end, label, value))


@dataclass(frozen=True)
class Graph:
    """Nodes with inputs first, the output node, and the inputs by name."""

    nodes: tuple[Node, ...]
    output: int
    inputs: dict[str, int]
    source: str
    # Facts of the structure that build_graph works out once (empty: the
    # passes work them out): whether each node's value depends on an input,
    # and whether it also reaches the output, so that a gradient flows there.
    depends: tuple[bool, ...] = ()
    live: tuple[bool, ...] = ()
    # The name an assignment gave a node it made (`h1 = tanh(w*x)`: the tanh
    # node is h1), by node id. A dict here rather than a field on each Node:
    # most nodes have no name, and a million-node program keeps its memory.
    names: Mapping[int, str] = field(default_factory=dict)

    def text(self, node: Node, limit: int = 80) -> str:
        """The node's sub-expression, whitespace folded, shortened with '…' past `limit`."""
        start, end = node.start, node.end
        cut = end - start > limit
        raw = self.source[start : start + limit + 1 if cut else end]
        text = " ".join(raw.split())
        # A comment inside parentheses can hold anything: no terminal escapes
        # or bidi overrides reach a table, only U+FFFD in their place.
        text = printable(text)
        if cut or len(text) > limit:
            text = text[: limit - 1] + "…"
        return text


def validate(graph: Graph) -> None:
    """Check the invariants the passes rely on: ids are positions, inputs come earlier."""
    for position, node in enumerate(graph.nodes):
        if node.id != position:
            raise ValueError(f"node at position {position} has id {node.id}")
        for source in node.inputs:
            if not 0 <= source < position:
                raise ValueError(f"node {position} reads node {source}, which is not earlier")
    if not 0 <= graph.output < len(graph.nodes):
        raise ValueError(f"output {graph.output} is not a node")
    for name, index in graph.inputs.items():
        if graph.nodes[index].op != "var" or graph.nodes[index].label != name:
            raise ValueError(f"input {name} is not the var node {index}")
