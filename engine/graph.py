"""The computational graph: a flat list of nodes in evaluation order."""

from __future__ import annotations

import heapq
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Any, NamedTuple, overload

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


_NO_LEAF = ("", 0.0)
# Node ids and text offsets in columns: C ints, 4 bytes each (the documented
# limits keep both far below 2**31).
INDEX = "i"


def zeros(count: int) -> array:
    """`count` zeros in a column of ids or offsets."""
    return array(INDEX, bytes(array(INDEX).itemsize * count))


_LANES: dict[int, tuple[int, int]] = {}  # count -> (1 in each lane, k in lane k)


def forget_progressions() -> None:
    """Let go of the large integers `progression` keeps for the next one of its length."""
    _LANES.clear()


def progression(start: int, step: int, count: int) -> array:
    """start, start + step, ... (`count` of them, none negative or past 2**31) in a
    column of ids or offsets, made in a few operations on one large integer rather
    than an int at a time (which costs 40 ns each): the column's bytes are those of
    start * (1 in each lane) + step * (k in lane k), as no lane carries into the next."""
    if start < 0 or step < 0 or start + step * max(count - 1, 0) >= 2**31:
        raise ValueError("a progression of ids or offsets is between 0 and 2**31")
    width = array(INDEX).itemsize
    if count not in _LANES:
        _LANES.clear()
        one = (1).to_bytes(width, sys.byteorder)
        ones = int.from_bytes(one * count, sys.byteorder)
        ks = int.from_bytes(array(INDEX, range(count)).tobytes(), sys.byteorder)
        _LANES[count] = (ones, ks)
    ones, ks = _LANES[count]
    out = array(INDEX)
    out.frombytes((start * ones + step * ks).to_bytes(width * count, sys.byteorder))
    return out


class Columns(Sequence[Node]):
    """A graph's nodes held as columns rather than as a tuple each: what a program
    read from text is (engine/build.py), about 50 bytes a node rather than 300.

    Behaves as the tuple of Nodes it stands for (len, index, slice, iteration,
    ==), each Node made on access; the passes and the JSON writer read the
    columns themselves. Node i has the gate `ops[i]` and `arity[i]` inputs: the
    first in `first[i]`, the second in `second[i]` (0 where there is none) and,
    for three or more, all of them in `more[i]`. `leaf[i]` is an input's name,
    or a constant's (label, value): as written and its value.
    `runs` lists the runs of a repeated line, as (first, count, total): each of
    the `total` nodes from `first` on is the node `count` before it again, with
    the same gate, text and name (an unrolled loop's lines).
    """

    __slots__ = (
        "_nodes",
        "arity",
        "ends",
        "first",
        "leaf",
        "more",
        "ops",
        "runs",
        "second",
        "starts",
    )

    def __init__(
        self,
        ops: list[str],
        arity: bytes,
        first: array,
        second: array,
        more: dict[int, tuple[int, ...]],
        starts: array,
        ends: array,
        leaf: list[str | tuple[str, float] | None],
        runs: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.runs = runs or []
        # The Nodes, made once a caller walks them all (the passes and the JSON
        # writer read the columns and never do).
        self._nodes: tuple[Node, ...] | None = None
        self.ops = ops
        self.arity = arity
        self.first = first
        self.second = second
        self.more = more
        self.starts = starts
        self.ends = ends
        self.leaf = leaf

    @classmethod
    def of(cls, nodes: Sequence[Node]) -> Columns:
        """The columns of a sequence of nodes (ids their positions)."""
        count = len(nodes)
        arity = bytes(min(len(node.inputs), 3) for node in nodes)
        first, second = zeros(count), zeros(count)
        more: dict[int, tuple[int, ...]] = {}
        for i, node in enumerate(nodes):
            ins = node.inputs
            if ins:
                first[i] = ins[0]
                if len(ins) > 1:
                    second[i] = ins[1]
                if len(ins) > 2:
                    more[i] = tuple(ins)
        return cls(
            [node.op for node in nodes],
            arity,
            first,
            second,
            more,
            array(INDEX, [node.start for node in nodes]),
            array(INDEX, [node.end for node in nodes]),
            [
                node.label
                if node.op == "var"
                else None
                if node.inputs
                else (node.label, node.value)
                for node in nodes
            ],
        )

    def __len__(self) -> int:
        return len(self.ops)

    def inputs(self, i: int) -> tuple[int, ...]:
        """Node i's inputs (node ids)."""
        k = self.arity[i]
        if k == 1:
            return (self.first[i],)
        if k == 2:
            return (self.first[i], self.second[i])
        return self.more[i] if k else ()

    def _make(self, i: int) -> Node:
        row: tuple[Any, ...]
        if self.arity[i]:
            row = (i, self.ops[i], self.inputs(i), self.starts[i], self.ends[i], "", 0.0)
        else:
            leaf: Any = self.leaf[i]
            label, value = (leaf, 0.0) if leaf.__class__ is str else leaf or _NO_LEAF
            row = (i, self.ops[i], (), self.starts[i], self.ends[i], label, value)
        return tuple.__new__(Node, row)

    @overload
    def __getitem__(self, index: int) -> Node: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Node, ...]: ...

    def __getitem__(self, index: int | slice) -> Node | tuple[Node, ...]:
        if self._nodes is not None:
            return self._nodes[index]
        if isinstance(index, slice):
            return tuple(map(self._make, range(*index.indices(len(self.ops)))))
        if index < 0:
            index += len(self.ops)
        if not 0 <= index < len(self.ops):
            raise IndexError("node index out of range")
        return self._make(index)

    def made(self) -> tuple[Node, ...]:
        """Every Node, made once and kept: for a caller that walks them again and again."""
        if self._nodes is None:
            first, second, leaves = self.first, self.second, self.leaf
            # Each node's inputs: (), (first,), (first, second) or its `more`, by arity.
            by_arity = zip(repeat(()), zip(first), zip(first, second), repeat(()))
            inputs = list(map(tuple.__getitem__, by_arity, self.arity))
            for i, more in self.more.items():
                inputs[i] = more
            labels = ["" if x is None else x if x.__class__ is str else x[0] for x in leaves]
            values = [x[1] if x.__class__ is tuple else 0.0 for x in leaves]
            rows = zip(range(len(self.ops)), self.ops, inputs, self.starts, self.ends)
            self._nodes = tuple(
                map(tuple.__new__, repeat(Node), map(add, rows, zip(labels, values)))
            )
        return self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self.made())

    def __reversed__(self) -> Iterator[Node]:
        return reversed(self.made())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Columns, tuple)):
            return len(self) == len(other) and all(map(tuple.__eq__, self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Any) -> tuple[Node, ...]:
        return tuple(self) + tuple(other)

    def __repr__(self) -> str:
        return f"Columns({len(self)} nodes)"


def ops_of(nodes: Sequence[Node]) -> Sequence[str]:
    """Each node's gate: the column itself, or read off the nodes."""
    return nodes.ops if isinstance(nodes, Columns) else [node.op for node in nodes]


class RunNames(Mapping[int, str]):
    """Node id -> the name its assignment gave it, for a program with runs of a
    repeated line: the names given one at a time (`explicit`, a dict), and each
    run's as (first, count, total, at, name): of the `total` nodes from `first`
    on, each line's node `at` (of `count`) is `name`. A 100,000-line run names
    100,000 nodes without a dict entry and an int for each."""

    __slots__ = ("_firsts", "explicit", "runs")

    def __init__(self, explicit: dict[int, str], runs: list[tuple[int, int, int, int, str]]):
        self.explicit = explicit
        self.runs = sorted(runs)
        self._firsts = [run[0] for run in self.runs]

    def __getitem__(self, i: int) -> str:
        name = self.get(i)
        if name is None:
            raise KeyError(i)
        return name  # type: ignore[no-any-return]

    def get(self, i: int, default: Any = None) -> Any:  # type: ignore[override]
        name = self.explicit.get(i)
        if name is not None:
            return name
        k = bisect_right(self._firsts, i) - 1
        if k >= 0:
            first, count, total, at, name = self.runs[k]
            if i < first + total and (i - first) % count == at:
                return name
        return default

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and self.get(i) is not None

    def __iter__(self) -> Iterator[int]:
        """The named nodes' ids, in order."""
        runs = (range(first + at, first + total, count) for first, count, total, at, _ in self.runs)
        return heapq.merge(sorted(self.explicit), *runs)

    def __len__(self) -> int:
        return len(self.explicit) + sum(total // count for _, count, total, _, _ in self.runs)

    def __repr__(self) -> str:
        return f"RunNames({len(self)} names)"


@dataclass(frozen=True)
class Graph:
    """Nodes with inputs first, the output node, and the inputs by name."""

    nodes: Sequence[Node]  # a tuple of Nodes, or Columns (a program read from text)
    output: int
    inputs: dict[str, int]
    source: str
    # Facts of the structure that build_graph works out once (empty: the
    # passes work them out): whether each node's value depends on an input,
    # and whether it also reaches the output, so that a gradient flows there.
    depends: Sequence[bool] = ()
    live: Sequence[bool] = ()
    # The name an assignment gave a node it made (`h1 = tanh(w*x)`: the tanh
    # node is h1), by node id. A dict here rather than a field on each Node:
    # most nodes have no name, and a million-node program keeps its memory.
    names: Mapping[int, str] = field(default_factory=dict)

    def text(self, node: Node, limit: int = 80) -> str:
        """The node's sub-expression, whitespace folded, shortened with '…' past `limit`."""
        return self.span_text(node.start, node.end, limit)

    def span_text(self, start: int, end: int, limit: int = 80) -> str:
        """The text from `start` to `end`, as `text` gives a node's."""
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
