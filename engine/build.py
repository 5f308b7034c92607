"""Program text or syntax tree to graph: one node per operator, call and literal as
written, one per input name, inputs first.

`read_graph` builds the graph while the parser reads the text (a `Graph`
maker: parser/parse.py), so neither the tokens nor a syntax tree of the whole
program are ever held; `build_graph` makes the same graph from a tree.
"""

from __future__ import annotations

import math

from backprop.engine.graph import Graph, Node
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
        self.input_spans: list[Span] = []
        self.env: dict[str, int] = {}  # name -> reference: inputs, then assignments
        # The operators, calls and constants, one entry each, in order.
        self.ops: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.spans: list[Span] = []
        self.constants: dict[int, tuple[str, float]] = {}  # reference -> (label, value)
        self.names: dict[int, str] = {}  # reference -> the name its assignment gave it
        self.first = 0  # the first reference of the statement being read
        self.output = 0

    def _make(self, op: str, args: tuple[int, ...], span: Span) -> int:
        ref = len(self.ops)
        self.ops.append(op)
        self.args.append(args)
        self.spans.append(span)
        return ref

    def num(self, value: float, text: str, span: Span) -> int:
        ref = self._make("const", (), span)
        self.constants[ref] = (text, value)
        return ref

    def name(self, name: str, span: Span) -> int:
        ref = self.env.get(name)
        if ref is not None:
            return ref
        if name in CONSTANT_VALUES:
            return self.num(CONSTANT_VALUES[name], name, span)
        # Read before any assignment: an input.
        number = len(self.inputs)
        self.inputs[name] = number
        self.input_spans.append(span)
        self.env[name] = ~number
        return ~number

    def unary(self, op: str, operand: int, span: Span) -> int:
        return self._make(UNARY_GATES[op], (operand,), span)

    def binary(self, op: str, left: int, right: int, span: Span) -> int:
        return self._make(BINARY_GATES[op], (left, right), span)

    def call(self, func: str, args: tuple[int, ...], span: Span) -> int:
        return self._make(func, args, span)

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
                self.names[value] = target
        self.first = made

    def finish(self) -> Graph:
        """The graph, inputs first; the output is the last statement's value."""
        n = len(self.inputs)
        nodes = [
            Node(k, "var", (), span, name)
            for (name, k), span in zip(self.inputs.items(), self.input_spans)
        ]
        append = nodes.append
        constants = self.constants
        for ref, (op, args, span) in enumerate(zip(self.ops, self.args, self.spans)):
            if len(args) == 1:
                a = args[0]
                append(Node(n + ref, op, (a + n if a >= 0 else ~a,), span))
            elif len(args) == 2:
                a, b = args
                append(Node(n + ref, op, (a + n if a >= 0 else ~a, b + n if b >= 0 else ~b), span))
            elif args:
                append(Node(n + ref, op, tuple(a + n if a >= 0 else ~a for a in args), span))
            else:
                label, value = constants[ref]
                append(Node(n + ref, op, (), span, label, value))
        output = self.output + n if self.output >= 0 else ~self.output
        names = {ref + n: name for ref, name in self.names.items()}
        graph = Graph(tuple(nodes), output, dict(self.inputs), self.source)
        nodes.clear()
        depends = depends_on_inputs(graph)
        live = live_nodes(graph, depends)
        return Graph(
            graph.nodes, output, graph.inputs, self.source, tuple(depends), tuple(live), names
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
                refs.append(maker.binary(node.op, refs.pop(), right, node.span))
            elif isinstance(node, Unary):
                refs.append(maker.unary(node.op, refs.pop(), node.span))
            else:
                assert isinstance(node, Call)
                count = len(node.args)
                args = tuple(refs[-count:])
                del refs[-count:]
                refs.append(maker.call(node.func, args, node.span))
        elif isinstance(item, Num):
            refs.append(maker.num(item.value, item.text, item.span))
        elif isinstance(item, Name):
            refs.append(maker.name(item.name, item.span))
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
