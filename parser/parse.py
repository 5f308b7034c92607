"""Tokens to syntax tree, without recursion.

    program   := statement ((';' | newline) statement)*
    statement := NAME '=' expr | expr
    expr      := binary operators by binding power, lowest first:
                 + -  (left)   * /  (left)   prefix + -   ** ^  (right)
                 with calls f(a, ...) and ( expr ) as operands

An operator-precedence parser with two explicit stacks (operands and
pending operators) reads a whole expression in one loop, so nesting is
limited by MAX_DEPTH, not by Python's recursion limit. Newlines inside
parentheses continue the expression, as in Python.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from backprop.parser.errors import ParseError, Span, quote, shorten
from backprop.parser.lang import ALIASES, FUNCTIONS, MAX_DEPTH, MAX_STATEMENTS, closest_function
from backprop.parser.lexer import Token, to_float, tokenize
from backprop.parser.tree import Assign, Binary, Call, Expr, Name, Num, Program, Unary

# Binding powers, one table: (power, right-associative).
BINARY = {
    "+": (10, False),
    "-": (10, False),
    "*": (20, False),
    "/": (20, False),
    "**": (40, True),
    "^": (40, True),
}
PREFIX_POWER = 30  # -x**2 is -(x**2); 2*-x is 2*(-x)


@dataclass
class _Frame:
    """A pending operator: a prefix sign, a binary operator, '(' or a call."""

    kind: str  # "prefix", "binary", "paren", "call"
    token: Token
    power: int = 0
    args: int = 0  # for calls: arguments completed so far


# An operand under construction: the tree node and its outer span
# (which, unlike the node's own span, includes enclosing parentheses).
_Operand = tuple[Expr, int, int]


def describe(token: Token) -> str:
    """How a message names a token."""
    if token.kind == "end":
        return "end of input"
    if token.kind == "newline":
        return "end of line" if token.text == "\n" else "';'"
    if token.kind == "number":
        return f"number {shorten(token.text)}"
    if token.kind == "name":
        return f"name {quote(token.text)}"
    return repr(token.text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.open = 0  # parentheses and calls not yet closed

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def column(self, token: Token) -> str:
        line, col = token.span.line_col(self.source)
        return f"column {col}" if line == 1 else f"line {line}, column {col}"

    def program(self) -> Program:
        statements: list[Assign | Expr] = []
        while True:
            while self.peek().kind == "newline":
                self.pos += 1
            if self.peek().kind == "end":
                break
            if len(statements) == MAX_STATEMENTS:
                raise ParseError(
                    f"too many statements (the limit is {MAX_STATEMENTS:,})",
                    self.peek().span,
                    kind="limit",
                )
            statements.append(self.statement())
            token = self.peek()
            if token.kind not in ("newline", "end"):
                hint = ""
                if token.kind in ("name", "number") or token.text == "(":
                    hint = "; multiplication is written a*b"
                raise ParseError(
                    f"expected an operator or the end of the statement, "
                    f"found {describe(token)}{hint}",
                    token.span,
                )
        if not statements:
            raise ParseError("the program is empty: write an expression such as x*y")
        return Program(tuple(statements), self.source)

    def statement(self) -> Assign | Expr:
        first, second = self.peek(), self.peek(1)
        if first.kind == "name" and second.kind == "op" and second.text == "=":
            if first.text in FUNCTIONS:
                raise ParseError(
                    f"cannot assign to {first.text}: it is a function", first.span, kind="name"
                )
            self.pos += 2
            value = self.expression()
            return Assign(first.text, first.span, value, Span(first.span.start, value.span.end))
        return self.expression()

    def expression(self) -> Expr:
        operands: list[_Operand] = []
        frames: list[_Frame] = []
        want_operand = True
        while True:
            token = self.peek()
            if token.kind == "newline" and token.text == "\n" and self.open:
                self.pos += 1
                continue
            if want_operand:
                want_operand = self.operand(token, operands, frames)
                continue
            if token.kind == "op" and token.text in BINARY:
                power, right = BINARY[token.text]
                self.reduce(operands, frames, power, right)
                frames.append(_Frame("binary", token, power))
                self.pos += 1
                want_operand = True
            elif token.kind == "op" and token.text == ")":
                self.close(token, operands, frames)
            elif token.kind == "op" and token.text == ",":
                self.reduce(operands, frames, 0, False)
                if not frames or frames[-1].kind != "call":
                    raise ParseError(
                        "',' is only allowed between a function's arguments", token.span
                    )
                frames[-1].args += 1
                self.pos += 1
                want_operand = True
            else:
                self.reduce(operands, frames, 0, False)
                if frames:
                    self.unclosed(frames[-1], token)
                return operands[0][0]

    def operand(self, token: Token, operands: list[_Operand], frames: list[_Frame]) -> bool:
        """Read one token in operand position; True while an operand is still wanted."""
        if len(frames) > MAX_DEPTH:
            raise ParseError(
                f"expression is nested too deeply (the limit is {MAX_DEPTH:,} levels)",
                token.span,
                kind="limit",
            )
        self.pos += 1
        if token.kind == "number":
            value = to_float(token.text, token.span)
            operands.append((Num(value, token.text, token.span), token.span.start, token.span.end))
            return False
        if token.kind == "name":
            after = self.peek()
            is_call = after.kind == "op" and after.text == "("
            if is_call and token.text not in FUNCTIONS:
                near = closest_function(token.text) if len(token.text) <= 40 else None
                hint = f"; did you mean {near}?" if near else ""
                raise ParseError(
                    f"unknown function {quote(token.text)}{hint}", token.span, kind="name"
                )
            if is_call:
                self.pos += 1
                self.open += 1
                frames.append(_Frame("call", token))
                if self.peek().kind == "op" and self.peek().text == ")":
                    self.check_arity(token, 0, self.peek())
                return True
            if token.text in FUNCTIONS:
                raise ParseError(
                    f"{token.text} is a function: call it as {token.text}(...)",
                    token.span,
                    kind="name",
                )
            operands.append((Name(token.text, token.span), token.span.start, token.span.end))
            return False
        if token.kind == "op" and token.text in ("-", "+"):
            frames.append(_Frame("prefix", token, PREFIX_POWER))
            return True
        if token.kind == "op" and token.text == "(":
            self.open += 1
            frames.append(_Frame("paren", token))
            return True
        if token.kind == "op" and token.text == ")" and frames and frames[-1].kind == "paren":
            raise ParseError("empty parentheses: expected an expression inside", token.span)
        raise ParseError(f"expected an expression, found {describe(token)}", token.span)

    def reduce(
        self, operands: list[_Operand], frames: list[_Frame], power: int, right: bool
    ) -> None:
        """Apply pending operators that bind tighter than one of `power`."""
        while frames and frames[-1].kind in ("prefix", "binary"):
            top = frames[-1]
            if top.power < power or (top.power == power and right):
                break
            frames.pop()
            if top.kind == "prefix":
                node, _, end = operands.pop()
                start = top.token.span.start
                operands.append((Unary(top.token.text, node, Span(start, end)), start, end))
            else:
                rhs, _, end = operands.pop()
                lhs, start, _ = operands.pop()
                binary = Binary(top.token.text, lhs, rhs, Span(start, end))
                operands.append((binary, start, end))

    def close(self, token: Token, operands: list[_Operand], frames: list[_Frame]) -> None:
        """Handle ')': finish a parenthesised group or a call."""
        self.reduce(operands, frames, 0, False)
        if not frames:
            raise ParseError("unmatched ')'", token.span)
        frame = frames.pop()
        self.open -= 1
        self.pos += 1
        end = token.span.end
        if frame.kind == "paren":
            node, _, _ = operands.pop()
            operands.append((node, frame.token.span.start, end))
            return
        name = frame.token
        count = frame.args + 1
        self.check_arity(name, count, token)
        args = tuple(op[0] for op in operands[-count:])
        del operands[-count:]
        start = name.span.start
        func = ALIASES.get(name.text, name.text)
        operands.append((Call(func, args, Span(start, end)), start, end))

    def check_arity(self, name: Token, count: int, at: Token) -> None:
        low, high = FUNCTIONS[name.text]
        if low <= count and (high is None or count <= high):
            return
        if high is None:
            wanted = f"{low} or more arguments"
        elif low == high:
            wanted = f"{low} argument" + ("s" if low != 1 else "")
        else:
            wanted = f"{low} to {high} arguments"
        raise ParseError(
            f"{name.text} takes {wanted}, got {count}", Span(name.span.start, at.span.end)
        )

    def unclosed(self, frame: _Frame, found: Token) -> None:
        opener = frame.token
        what = "'('" if frame.kind == "paren" else f"the call of {opener.text}"
        where = self.column(opener)
        raise ParseError(
            f"expected ')' to close {what} at {where}, found {describe(found)}",
            found.span,
        )


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a stage makes millions of
    small objects and no cycles: it would only rescan them, again and again as
    they pile up (on a 100,000-node program it took about 40% of parsing and
    two thirds of building the graph)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def parse(source: str) -> Program:
    """Parse a program; raises ParseError with a span on any syntax error."""
    with cycle_collector_paused():
        return _Parser(source).program()
