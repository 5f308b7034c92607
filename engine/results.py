"""Per-node results made as they are read: a million-node run keeps flat lists, not a
million result objects and texts, and a renderer that streams them holds one at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from backprop.engine.graph import Columns, RunNames
from backprop.parser.errors import Span

if TYPE_CHECKING:
    from backprop.engine.api import NodeResult
    from backprop.engine.graph import Graph


class NodeResults(Sequence["NodeResult"]):
    """The nodes of a Result, in evaluation order: each NodeResult is made on access.

    Behaves as the tuple it stands for (len, index, slice, iteration, ==). `rows`
    gives renderers the plain fields without making the objects.
    """

    __slots__ = ("_checks", "_grads", "_graph", "_names", "_notes", "_texts", "_values")

    def __init__(
        self,
        graph: Graph,
        values: list[float],
        grads: list[float | None],
        notes: Mapping[int, list[str]],
        checks: list[Any] | None,
    ) -> None:
        self._graph = graph
        self._values = values
        self._grads = grads
        self._notes = notes
        self._checks = checks
        self._texts: dict[object, str] = {}  # raw text or span -> text: repeats share theirs
        # The names as a dict, made when the first node is (a renderer makes each
        # node several times; a run's names are otherwise looked up one by one).
        self._names: Mapping[int, str] | None = None

    def __len__(self) -> int:
        return len(self._graph.nodes)

    @overload
    def __getitem__(self, index: int) -> NodeResult: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[NodeResult, ...]: ...

    def __getitem__(self, index: int | slice) -> NodeResult | tuple[NodeResult, ...]:
        if isinstance(index, slice):
            return tuple(self._make(i) for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("node index out of range")
        return self._make(index)

    def __iter__(self) -> Iterator[NodeResult]:
        return map(self._make, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (NodeResults, tuple)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NodeResults({len(self)} nodes)"

    def parts(
        self,
    ) -> tuple[Graph, list[float], list[float | None], Mapping[int, list[str]], list[Any] | None]:
        """What the nodes are made of, for a renderer that streams them: the graph, the
        values, the gradients, the notes by node id, and the check's node or None
        (None for all: no check)."""
        return self._graph, self._values, self._grads, self._notes, self._checks

    def text(self, i: int) -> str:
        """Node i's text: an input's name, else its sub-expression (Graph.text)."""
        nodes = self._graph.nodes
        if isinstance(nodes, Columns):
            op, start, end = nodes.ops[i], nodes.starts[i], nodes.ends[i]
            if op == "var":
                return nodes.leaf[i]  # type: ignore[return-value]  # an input's leaf: its name
        else:
            node = nodes[i]
            if node.op == "var":
                return node.label
            start, end = node.start, node.end
        source = self._graph.source
        # The same sub-expression text in many places (an unrolled loop's
        # lines) is shortened once; the key is the raw text when short.
        key: object = source[start:end] if end - start <= 80 else (start, end)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = self._graph.span_text(start, end)
        return text

    def _make(self, i: int) -> NodeResult:
        from backprop.engine.api import NodeResult

        nodes = self._graph.nodes
        if isinstance(nodes, Columns):
            op, inputs = nodes.ops[i], nodes.inputs(i)
            span = Span(nodes.starts[i], nodes.ends[i])
        else:
            node = nodes[i]
            op, inputs, span = node.op, node.inputs, node.span
        c = None if self._checks is None else self._checks[i]
        return NodeResult(
            i,
            op,
            self.text(i),
            span,
            inputs,
            self._values[i],
            self._grads[i],
            tuple(self._notes.get(i, ())),
            c.sympy_grad if c else None,
            c.verdict if c else None,
            c.reason if c else "",
            c.kind if c else None,
            self._names_dict().get(i, ""),
        )

    def _names_dict(self) -> Mapping[int, str]:
        if self._names is None:
            names = self._graph.names
            self._names = dict(names) if isinstance(names, RunNames) else names
        return self._names
