"""Program text or syntax tree to graph: one node per operator, call and literal as
written, one per input name, inputs first.

`read_graph` builds the graph while the parser reads the text (a `Graph`
maker: parser/parse.py), so neither the tokens nor a syntax tree of the whole
program are ever held; `build_graph` makes the same graph from a tree.
"""

from __future__ import annotations

import math
import sys

from backprop.engine.graph import Graph, Node, make_node
from backprop.engine.passes import depends_on_inputs, live_nodes
from backprop.parser.errors import ParseError, Span
from backprop.parser.lang import MAX_NODES
from backprop.parser.parse import read
from backprop.parser.tree import (
    BINARY_GATES,
    UNARY_GATES,
    Assign,
    Binary,
    Call,
    Expr,
    Name,
    Num,
    Program,
    Unary,
)

CONSTANT_VALUES = {"pi": math.pi, "e": math.e}

# While reading, a node is known by a reference: k >= 0 is the k-th operator,
# call or constant made, and ~k (that is -1 - k) the k-th input. Inputs come
# first in the graph, so their number is known only at the end, when the
# references become node ids.


class GraphMaker:
    """The parser's maker (parser/parse.py's Maker) that makes graph nodes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.inputs: dict[str, int] = {}  # name -> input number
        self.input_spans: list[tuple[int, int]] = []
        self.env: dict[str, int] = {}  # name -> reference: inputs, then assignments
        # The operators, calls and constants, one entry each, in order.
        self.ops: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.constants: dict[int, tuple[str, float]] = {}  # reference -> (label, value)
        self.names: dict[int, str] = {}  # reference -> the name its assignment gave it
        self.first = 0  # the first reference of the statement being read
        self.output = 0

    def _make(self, op: str, args: tuple[int, ...], start: int, end: int) -> int:
        ref = len(self.ops)
        self.ops.append(op)
        self.args.append(args)
        self.starts.append(start)
        self.ends.append(end)
        return ref

    def num(self, value: float, text: str, start: int, end: int) -> int:
        ref = self._make("const", (), start, end)
        self.constants[ref] = (text, value)
        return ref

    def name(self, name: str, start: int, end: int) -> int:
        ref = self.env.get(name)
        if ref is not None:
            return ref
        if name in CONSTANT_VALUES:
            return self.num(CONSTANT_VALUES[name], name, start, end)
        # Read before any assignment: an input.
        number = len(self.inputs)
        self.inputs[name] = number
        self.input_spans.append((start, end))
        self.env[name] = ~number
        return ~number

    def unary(self, op: str, operand: int, start: int, end: int) -> int:
        return self._make(UNARY_GATES[op], (operand,), start, end)

    def binary(self, op: str, left: int, right: int, start: int, end: int) -> int:
        return self._make(BINARY_GATES[op], (left, right), start, end)

    def call(self, func: str, args: tuple[int, ...], start: int, end: int) -> int:
        return self._make(func, args, start, end)

    def statement(
        self, target: str | None, target_span: Span | None, value: int, value_span: Span, start: int
    ) -> None:
        made = len(self.ops)
        if len(self.inputs) + made > MAX_NODES:
            raise ParseError(
                f"the program is too large: over {MAX_NODES:,} nodes "
                "(inputs, constants, operators and calls)",
                value_span,
                kind="limit",
            )
        self.output = value
        if target is not None:
            self.env[target] = value
            # The node this statement made carries the name. `a = x` or `b = a`
            # makes no node: the node keeps the name it had (x, or a).
            if value >= self.first:
                self.names[value] = sys.intern(target)  # one string for every h = ...
        self.first = made

    def finish(self) -> Graph:
        """The graph, inputs first; the output is the last statement's value."""
        n, m = len(self.inputs), len(self.ops)
        # ids[ref] is the node id of a reference, one int object per node, which
        # every node reading it shares: the operators' ids, then the inputs'
        # backwards, so that ids[~k] is input k's.
        ids = [*range(n, n + m), *range(n - 1, -1, -1)]
        nodes = [
            make_node(ids[~k], "var", (), start, end, name, 0.0)
            for (name, k), (start, end) in zip(self.inputs.items(), self.input_spans)
        ]
        append = nodes.append
        constants = self.constants
        args_of = self.args
        new = tuple.__new__  # make_node, without a call in between
        for ref, (op, start, end) in enumerate(zip(self.ops, self.starts, self.ends)):
            args = args_of[ref]
            args_of[ref] = ()  # the reference tuple is done with: the peak stays lower
            if len(args) == 1:
                append(new(Node, (ids[ref], op, (ids[args[0]],), start, end, "", 0.0)))
            elif len(args) == 2:
                append(new(Node, (ids[ref], op, (ids[args[0]], ids[args[1]]), start, end, "", 0.0)))
            elif args:
                ins = tuple([ids[a] for a in args])
                append(new(Node, (ids[ref], op, ins, start, end, "", 0.0)))
            else:
                label, value = constants[ref]
                append(new(Node, (ids[ref], op, (), start, end, label, value)))
        names = {ids[ref]: name for ref, name in self.names.items()}
        graph = Graph(tuple(nodes), ids[self.output], self.inputs, self.source)
        nodes.clear()
        # The references are done with: free them before the passes below.
        self.ops, self.args, self.starts, self.ends = [], [], [], []
        self.constants, self.env = {}, {}
        depends = depends_on_inputs(graph)
        live = live_nodes(graph, depends)
        return Graph(
            graph.nodes, graph.output, graph.inputs, self.source, tuple(depends), tuple(live), names
        )


def read_graph(source: str) -> Graph:
    """The graph of a program's text; raises ParseError with a span on any syntax error."""
    return read(source, GraphMaker(source))


def build_graph(program: Program) -> Graph:
    """The graph of a parsed program; its output is the last statement's value."""
    maker = GraphMaker(program.source)
    for statement in program.statements:
        if isinstance(statement, Assign):
            ref = _walk(statement.value, maker)
            maker.statement(statement.name, statement.name_span, ref, statement.value.span, 0)
        else:
            maker.statement(None, None, _walk(statement, maker), statement.span, 0)
    return maker.finish()


def _walk(expr: Expr, maker: GraphMaker) -> int:
    """Hand `expr`'s nodes to `maker`, children before parents, left to right; no recursion."""
    refs: list[int] = []
    # Each stack entry is a node to open, or (node,) to make once its children are made.
    stack: list[Expr | tuple[Expr]] = [expr]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            node = item[0]
            if isinstance(node, Binary):
                right = refs.pop()
                refs.append(maker.binary(node.op, refs.pop(), right, *node.span))
            elif isinstance(node, Unary):
                refs.append(maker.unary(node.op, refs.pop(), *node.span))
            else:
                assert isinstance(node, Call)
                count = len(node.args)
                args = tuple(refs[-count:])
                del refs[-count:]
                refs.append(maker.call(node.func, args, *node.span))
        elif isinstance(item, Num):
            refs.append(maker.num(item.value, item.text, *item.span))
        elif isinstance(item, Name):
            refs.append(maker.name(item.name, *item.span))
        else:
            stack.append((item,))
            if isinstance(item, Binary):
                stack.append(item.right)
                stack.append(item.left)
            elif isinstance(item, Unary):
                stack.append(item.operand)
            else:
                stack.extend(reversed(item.args))
    return refs[0]
