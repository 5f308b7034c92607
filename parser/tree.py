"""The syntax tree: small frozen dataclasses, each with its span.

Trees can be tens of thousands of levels deep, so nothing here recurses:
`to_sexpr` walks with an explicit stack, and tests compare trees through it
rather than with `==` (dataclass equality recurses).
"""

from __future__ import annotations

from dataclasses import dataclass

from backprop.parser.errors import Span


@dataclass(frozen=True, eq=False, slots=True)
class Num:
    """A number literal; `text` is as written."""

    value: float
    text: str
    span: Span


@dataclass(frozen=True, eq=False, slots=True)
class Name:
    """A name read in an expression: an input, an earlier binding or a constant."""

    name: str
    span: Span


@dataclass(frozen=True, eq=False, slots=True)
class Unary:
    """A prefix sign: op is '-' or '+'."""

    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True, eq=False, slots=True)
class Binary:
    """op is one of + - * / ** ^."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, eq=False, slots=True)
class Call:
    """A call of a known function with its arguments."""

    func: str
    args: tuple[Expr, ...]
    span: Span


Expr = Num | Name | Unary | Binary | Call


@dataclass(frozen=True, eq=False, slots=True)
class Assign:
    """`name = value`; span covers the whole statement."""

    name: str
    name_span: Span
    value: Expr
    span: Span


Statement = Assign | Expr


@dataclass(frozen=True, eq=False, slots=True)
class Program:
    """The statements in order, and the text they came from."""

    statements: tuple[Statement, ...]
    source: str


# Gate names, shared with the engine's table: the S-expression speaks them.
BINARY_GATES = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "^": "pow"}
UNARY_GATES = {"-": "neg", "+": "pos"}


def children(expr: Expr) -> tuple[Expr, ...]:
    """The operands of a node, left to right."""
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Call):
        return expr.args
    return ()


def head(expr: Expr) -> str:
    """The S-expression head of a node: a gate name, a number or a name."""
    if isinstance(expr, Num):
        return expr.text
    if isinstance(expr, Name):
        return expr.name
    if isinstance(expr, Binary):
        return BINARY_GATES[expr.op]
    if isinstance(expr, Unary):
        return UNARY_GATES[expr.op]
    return expr.func


def to_sexpr(node: Statement | Program) -> str:
    """`-x**2` -> `(neg (pow x 2))`; a program -> statements joined by '; '."""
    if isinstance(node, Program):
        return "; ".join(to_sexpr(s) for s in node.statements)
    if isinstance(node, Assign):
        return f"(= {node.name} {to_sexpr(node.value)})"
    out: list[str] = []
    # Each stack entry is a node to open or a ")" to close.
    stack: list[Expr | str] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        kids = children(item)
        if out and out[-1] != "(":
            out.append(" ")
        if not kids:
            out.append(head(item))
            continue
        out.append("(")
        out.append(head(item))
        stack.append(")")
        stack.extend(reversed(kids))
    return "".join(out)
