"""Syntax tree to graph: one node per operator or call as written, one per input name."""

from __future__ import annotations

import math

from backprop.engine.graph import Graph, Node
from backprop.engine.passes import depends_on_inputs, live_nodes
from backprop.parser.errors import ParseError
from backprop.parser.lang import MAX_NODES
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
    children,
)

CONSTANT_VALUES = {"pi": math.pi, "e": math.e}


def _postorder(expr: Expr) -> list[Expr]:
    """The nodes of `expr`, children before parents, left to right; no recursion."""
    order: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((kid, False) for kid in reversed(children(node)))
    return order


def _statements(program: Program) -> list[tuple[str | None, list[Expr]]]:
    out: list[tuple[str | None, list[Expr]]] = []
    for statement in program.statements:
        if isinstance(statement, Assign):
            out.append((statement.name, _postorder(statement.value)))
        else:
            out.append((None, _postorder(statement)))
    return out


def build_graph(program: Program) -> Graph:
    """The graph of a program; its output is the last statement's value."""
    statements = _statements(program)
    nodes: list[Node] = []

    # 1. Inputs first: every name read before any assignment to it.
    inputs: dict[str, int] = {}
    bound: set[str] = set()
    for target, order in statements:
        for expr in order:
            if (
                isinstance(expr, Name)
                and expr.name not in bound
                and expr.name not in CONSTANT_VALUES
                and expr.name not in inputs
            ):
                inputs[expr.name] = len(nodes)
                nodes.append(Node(len(nodes), "var", (), expr.span, expr.name))
        if target is not None:
            bound.add(target)

    # 2. Then each operator, call and literal as written, statement by statement.
    env: dict[str, int] = dict(inputs)
    ids: dict[int, int] = {}  # id(expr) -> node id
    names: dict[int, str] = {}
    output = 0
    for target, order in statements:
        first = len(nodes)
        for expr in order:
            ids[id(expr)] = _add(expr, nodes, env, ids)
        output = ids[id(order[-1])]
        if len(nodes) > MAX_NODES:
            raise ParseError(
                f"the program is too large: over {MAX_NODES:,} nodes "
                "(inputs, constants, operators and calls)",
                order[-1].span,
                kind="limit",
            )
        if target is not None:
            env[target] = output
            # The node this statement made carries the name. `a = x` or `b = a`
            # makes no node: the node keeps the name it had (x, or a).
            if output >= first:
                names[output] = target
        ids.clear()
    graph = Graph(tuple(nodes), output, inputs, program.source)
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    return Graph(graph.nodes, output, inputs, program.source, tuple(depends), tuple(live), names)


def _add(expr: Expr, nodes: list[Node], env: dict[str, int], ids: dict[int, int]) -> int:
    if isinstance(expr, Name):
        if expr.name in env:
            return env[expr.name]
        node = Node(len(nodes), "const", (), expr.span, expr.name, CONSTANT_VALUES[expr.name])
    elif isinstance(expr, Num):
        node = Node(len(nodes), "const", (), expr.span, expr.text, expr.value)
    else:
        if isinstance(expr, Binary):
            op = BINARY_GATES[expr.op]
        elif isinstance(expr, Unary):
            op = UNARY_GATES[expr.op]
        else:
            assert isinstance(expr, Call)
            op = expr.func
        kids = tuple(ids[id(kid)] for kid in children(expr))
        node = Node(len(nodes), op, kids, expr.span)
    nodes.append(node)
    return node.id
