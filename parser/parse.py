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

The parser hands each piece it recognises to a maker: `parse` gives the
syntax tree (a Tree maker), and the engine's graph maker builds graph nodes
straight from the text, one statement at a time, with no tree or token list
held (`backprop.engine.build.read_graph`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from backprop.parser.errors import ParseError, Span, quote, shorten
from backprop.parser.lang import ALIASES, FUNCTIONS, MAX_DEPTH, MAX_STATEMENTS, closest_function
from backprop.parser.lexer import RawToken, Token, scan, to_float
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


# A pending operator: [kind, token, power, arguments so far]; kind is "prefix",
# "binary", "paren" or "call" (a list: a call counts its arguments in place).
_Frame = list

# An operand under construction: what the maker made of it, its outer extent
# (which, unlike its own span, includes enclosing parentheses) and its own
# span's start and end: (made, outer start, outer end, start, end).
_Operand = tuple[Any, int, int, int, int]

Made = TypeVar("Made")
Result_co = TypeVar("Result_co", covariant=True)


class Maker(Protocol[Result_co]):
    """What the parser calls as it recognises each piece, children before parents:
    each call returns the made thing, which the parser passes back in later calls.
    `start` and `end` are the piece's span (character offsets, end exclusive)."""

    def num(self, value: float, text: str, start: int, end: int) -> Any: ...
    def name(self, name: str, start: int, end: int) -> Any: ...
    def unary(self, op: str, operand: Any, start: int, end: int) -> Any: ...
    def binary(self, op: str, left: Any, right: Any, start: int, end: int) -> Any: ...
    def call(self, func: str, args: tuple[Any, ...], start: int, end: int) -> Any: ...

    def statement(
        self, target: str | None, target_span: Span | None, value: Any, value_span: Span, start: int
    ) -> None:
        """A statement is complete: `target = value` (target None: a bare expression)."""

    def finish(self) -> Result_co:
        """The program is complete (it has at least one statement)."""
        ...


class Tree:
    """The maker of the syntax tree (parser/tree.py)."""

    @staticmethod
    def num(value: float, text: str, start: int, end: int) -> Num:
        return Num(value, text, Span(start, end))

    @staticmethod
    def name(name: str, start: int, end: int) -> Name:
        return Name(name, Span(start, end))

    @staticmethod
    def unary(op: str, operand: Expr, start: int, end: int) -> Unary:
        return Unary(op, operand, Span(start, end))

    @staticmethod
    def binary(op: str, left: Expr, right: Expr, start: int, end: int) -> Binary:
        return Binary(op, left, right, Span(start, end))

    @staticmethod
    def call(func: str, args: tuple[Expr, ...], start: int, end: int) -> Call:
        return Call(func, args, Span(start, end))

    def __init__(self, source: str) -> None:
        self.source = source
        self.statements: list[Assign | Expr] = []

    def statement(
        self,
        target: str | None,
        target_span: Span | None,
        value: Expr,
        value_span: Span,
        start: int,
    ) -> None:
        if target is None:
            self.statements.append(value)
        else:
            assert target_span is not None
            self.statements.append(Assign(target, target_span, value, Span(start, value_span.end)))

    def finish(self) -> Program:
        return Program(tuple(self.statements), self.source)


_END: RawToken = ("end", "", 0, 0)

# What a line may start with when its first token is not its first character
# (and "": the end of the text).
_SKIP = frozenset(["", " ", "\t", "\r", "\f", "\v", "\n", "#", ";"])


def describe(token: RawToken | Token) -> str:
    """How a message names a token."""
    kind, text = token[0], token[1]
    if kind == "end":
        return "end of input"
    if kind == "newline":
        return "end of line" if text == "\n" else "';'"
    if kind == "number":
        return f"number {shorten(text)}"
    if kind == "name":
        return f"name {quote(text)}"
    return repr(text)


def _span(token: RawToken) -> Span:
    return Span(token[2], token[3])


class _Recorder:
    """A maker that passes each call on to `maker` and records it, with spans
    relative to `base` and made things by their position, for `_replay`."""

    def __init__(self, maker: Maker[Any], base: int) -> None:
        self.maker = maker
        self.base = base
        self.calls: list[tuple[Any, ...]] = []
        self.made: list[Any] = []

    def _keep(self, call: tuple[Any, ...], made: Any) -> int:
        self.calls.append(call)
        self.made.append(made)
        return len(self.made) - 1

    def num(self, value: float, text: str, start: int, end: int) -> int:
        b = self.base
        made = self.maker.num(value, text, start, end)
        return self._keep((0, value, text, start - b, end - b), made)

    def name(self, name: str, start: int, end: int) -> int:
        b = self.base
        return self._keep((1, name, start - b, end - b), self.maker.name(name, start, end))

    def unary(self, op: str, operand: int, start: int, end: int) -> int:
        b = self.base
        made = self.maker.unary(op, self.made[operand], start, end)
        return self._keep((2, op, operand, start - b, end - b), made)

    def binary(self, op: str, left: int, right: int, start: int, end: int) -> int:
        b = self.base
        made = self.maker.binary(op, self.made[left], self.made[right], start, end)
        return self._keep((3, op, left, right, start - b, end - b), made)

    def call(self, func: str, args: tuple[int, ...], start: int, end: int) -> int:
        b = self.base
        made = self.maker.call(func, tuple(self.made[k] for k in args), start, end)
        return self._keep((4, func, args, start - b, end - b), made)

    def statement(
        self, target: str | None, target_span: Span | None, value: int, value_span: Span, start: int
    ) -> None:
        b = self.base
        rel = None if target_span is None else (target_span[0] - b, target_span[1] - b)
        self.calls.append((5, target, rel, value, value_span[0] - b, value_span[1] - b, start - b))
        self.maker.statement(target, target_span, self.made[value], value_span, start)

    def finish(self) -> Any:
        raise AssertionError("a recorder records one statement")


def _copies(source: str, at: int, unit: str, limit: int) -> int:
    """How many copies of `unit` (at most `limit`) `source` has one after another from
    `at`: blocks of doubling size compared, then halving ones."""
    count, block = 0, unit
    while count + len(block) // len(unit) <= limit and source.startswith(block, at):
        count += len(block) // len(unit)
        at += len(block)
        block += block
    while len(block) > len(unit):
        block = block[: len(block) // 2]
        if count + len(block) // len(unit) <= limit and source.startswith(block, at):
            count += len(block) // len(unit)
            at += len(block)
    return count


def _replay(maker: Maker[Any], calls: list[tuple[Any, ...]], base: int) -> None:
    """Make a statement again at offset `base` from the calls `_Recorder` recorded."""
    made: list[Any] = []
    keep = made.append
    for call in calls:
        code = call[0]
        if code == 3:
            _, op, left, right, start, end = call
            keep(maker.binary(op, made[left], made[right], base + start, base + end))
        elif code == 1:
            keep(maker.name(call[1], base + call[2], base + call[3]))
        elif code == 0:
            keep(maker.num(call[1], call[2], base + call[3], base + call[4]))
        elif code == 4:
            _, func, args, start, end = call
            keep(maker.call(func, tuple([made[k] for k in args]), base + start, base + end))
        elif code == 2:
            keep(maker.unary(call[1], made[call[2]], base + call[3], base + call[4]))
        else:
            _, target, rel, value, start, end, first = call
            target_span = None if rel is None else Span(base + rel[0], base + rel[1])
            maker.statement(
                target, target_span, made[value], Span(base + start, base + end), base + first
            )


class _Parser(Generic[Made]):
    """Reads the tokens as the lexer makes them: the current one and at most one ahead."""

    def __init__(self, source: str, maker: Maker[Made]) -> None:
        self.source = source
        self.maker = maker
        self.numbers: dict[str, tuple[str, float]] = {}  # each distinct literal read once
        self._next = scan(source).__next__
        self.token: RawToken = self._next()
        self.ahead: RawToken | None = None
        self.open = 0  # parentheses and calls not yet closed

    def advance(self) -> None:
        if self.ahead is not None:
            self.token, self.ahead = self.ahead, None
        elif self.token[0] != "end":
            self.token = self._next()

    def peek_ahead(self) -> RawToken:
        """The token after the current one."""
        if self.ahead is None:
            self.ahead = self._next() if self.token[0] != "end" else self.token
        return self.ahead

    def column(self, token: RawToken) -> str:
        line, col = _span(token).line_col(self.source)
        return f"column {col}" if line == 1 else f"line {line}, column {col}"

    def program(self) -> Made:
        statements = 0
        source = self.source
        # Generated programs repeat lines (an unrolled loop): a line met again is
        # read once more while its maker calls are recorded, then replayed
        # (line text from the statement's start -> what makes it again; None: met
        # once; []: not replayable).
        lines: dict[str, Callable[[list[int]], None] | list[Any] | None] = {}
        while True:
            while self.token[0] == "newline":
                self.advance()
            if self.token[0] == "end":
                break
            if statements == MAX_STATEMENTS:
                raise ParseError(
                    f"too many statements (the limit is {MAX_STATEMENTS:,})",
                    _span(self.token),
                    kind="limit",
                )
            start = self.token[2]
            stop = source.find("\n", start)
            if stop < 0:
                self.statement()
            else:
                line = source[start:stop]
                calls = lines.get(line, False)
                if callable(calls):
                    play, bases = calls, [start]
                    statements += 1
                    # The lines that follow, while each is one met before that
                    # starts with its first token, need no lexer either; a run of
                    # the same line is made in one go.
                    while statements < MAX_STATEMENTS:
                        # The same line again, and again (an unrolled loop): counted at once.
                        line = source[bases[-1] : stop]
                        more = _copies(source, stop + 1, line + "\n", MAX_STATEMENTS - statements)
                        if more:
                            width = len(line) + 1
                            bases.extend(range(stop + 1, stop + 1 + more * width, width))
                            statements += more
                            stop += more * width
                        if statements >= MAX_STATEMENTS or source[stop + 1 : stop + 2] in _SKIP:
                            break
                        after = source.find("\n", stop + 1)
                        calls = lines.get(source[stop + 1 : after], False) if after > 0 else False
                        if not callable(calls):
                            break
                        if calls is not play:
                            play(bases)
                            play, bases = calls, []
                        bases.append(stop + 1)
                        statements += 1
                        stop = after
                    play(bases)
                    self._next = scan(source, stop + 1).__next__
                    self.token, self.ahead = ("newline", "\n", stop, stop + 1), None
                    continue
                if calls is None:  # the second time: record
                    maker = self.maker
                    self.maker = recorder = _Recorder(maker, start)
                    try:
                        self.statement()
                    finally:
                        self.maker = maker
                    # Only a statement that is the rest of its line, and ends it.
                    done = self.token[0] == "newline" and self.token[2] == stop
                    lines[line] = self.player(recorder.calls) if done else []
                else:
                    if calls is False:  # met for the first time
                        if len(lines) >= 64:  # only recent lines repeat in generated code
                            lines.clear()
                        lines[line] = None
                    self.statement()
            statements += 1
            token = self.token
            if token[0] != "newline" and token[0] != "end":
                hint = ""
                if token[0] in ("name", "number") or token[1] == "(":
                    hint = "; multiplication is written a*b"
                raise ParseError(
                    f"expected an operator or the end of the statement, "
                    f"found {describe(token)}{hint}",
                    _span(token),
                )
        if not statements:
            raise ParseError("the program is empty: write an expression such as x*y")
        return self.maker.finish()

    def player(self, calls: list[tuple[Any, ...]]) -> Callable[[list[int]], None]:
        """What makes a recorded statement again at each of a list of offsets, one
        after the other: the maker's own player if it has one (a few list
        operations), else the calls replayed."""
        make = getattr(self.maker, "player", None)
        play = make(calls) if make is not None else None
        if play is None:
            maker = self.maker

            def play(bases: list[int]) -> None:
                for base in bases:
                    _replay(maker, calls, base)

        return play

    def statement(self) -> None:
        first = self.token
        if first[0] == "name":
            second = self.peek_ahead()
            if second[1] == "=" and second[0] == "op":
                if first[1] in FUNCTIONS:
                    raise ParseError(
                        f"cannot assign to {first[1]}: it is a function", _span(first), kind="name"
                    )
                self.advance()
                self.advance()
                value, _, _, start, end = self.expression()
                self.maker.statement(first[1], _span(first), value, Span(start, end), first[2])
                return
        value, _, _, start, end = self.expression()
        self.maker.statement(None, None, value, Span(start, end), first[2])

    def expression(self) -> _Operand:
        operands: list[_Operand] = []
        frames: list[_Frame] = []
        want_operand = True
        while True:
            token = self.token
            kind, text = token[0], token[1]
            if want_operand:
                if kind == "newline" and self.open and text == "\n":
                    self.advance()
                    continue
                want_operand = self.operand(token, operands, frames)
                continue
            if kind == "op":
                binary = BINARY.get(text)
                if binary is not None:
                    power, right = binary
                    if frames and frames[-1][2]:
                        self.reduce(operands, frames, power, right)
                    frames.append(["binary", token, power, 0])
                    self.advance()
                    want_operand = True
                    continue
                if text == ")":
                    self.close(token, operands, frames)
                    continue
                if text == ",":
                    self.reduce(operands, frames, 0, False)
                    if not frames or frames[-1][0] != "call":
                        raise ParseError(
                            "',' is only allowed between a function's arguments", _span(token)
                        )
                    frames[-1][3] += 1
                    self.advance()
                    want_operand = True
                    continue
            elif kind == "newline" and self.open and text == "\n":
                self.advance()
                continue
            self.reduce(operands, frames, 0, False)
            if frames:
                self.unclosed(frames[-1], token)
            return operands[0]

    def operand(self, token: RawToken, operands: list[_Operand], frames: list[_Frame]) -> bool:
        """Read one token in operand position; True while an operand is still wanted."""
        if len(frames) > MAX_DEPTH:
            raise ParseError(
                f"expression is nested too deeply (the limit is {MAX_DEPTH:,} levels)",
                _span(token),
                kind="limit",
            )
        kind, text, start, end = token
        self.advance()
        if kind == "number":
            known = self.numbers.get(text)
            if known is None:
                known = self.numbers[text] = (text, to_float(text, Span(start, end)))
            operands.append(
                (self.maker.num(known[1], known[0], start, end), start, end, start, end)
            )
            return False
        if kind == "name":
            after = self.token
            if after[1] == "(" and after[0] == "op":
                if text not in FUNCTIONS:
                    near = closest_function(text) if len(text) <= 40 else None
                    hint = f"; did you mean {near}?" if near else ""
                    raise ParseError(
                        f"unknown function {quote(text)}{hint}", Span(start, end), kind="name"
                    )
                self.advance()
                self.open += 1
                frames.append(["call", token, 0, 0])
                if self.token[0] == "op" and self.token[1] == ")":
                    self.check_arity(token, 0, self.token)
                return True
            if text in FUNCTIONS:
                raise ParseError(
                    f"{text} is a function: call it as {text}(...)",
                    Span(start, end),
                    kind="name",
                )
            operands.append((self.maker.name(text, start, end), start, end, start, end))
            return False
        if kind == "op":
            if text == "-" or text == "+":
                frames.append(["prefix", token, PREFIX_POWER, 0])
                return True
            if text == "(":
                self.open += 1
                frames.append(["paren", token, 0, 0])
                return True
            if text == ")" and frames and frames[-1][0] == "paren":
                raise ParseError("empty parentheses: expected an expression inside", _span(token))
        raise ParseError(f"expected an expression, found {describe(token)}", _span(token))

    def reduce(
        self, operands: list[_Operand], frames: list[_Frame], power: int, right: bool
    ) -> None:
        """Apply pending operators that bind tighter than one of `power`."""
        # Only prefix and binary frames have a power (parentheses and calls have 0).
        while frames:
            top = frames[-1]
            top_power = top[2]
            if not top_power or top_power < power or (top_power == power and right):
                break
            frames.pop()
            token = top[1]
            if top[0] == "prefix":
                node, _, end, _, _ = operands.pop()
                start = token[2]
                made = self.maker.unary(token[1], node, start, end)
            else:
                rhs, _, end, _, _ = operands.pop()
                lhs, start, _, _, _ = operands.pop()
                made = self.maker.binary(token[1], lhs, rhs, start, end)
            operands.append((made, start, end, start, end))

    def close(self, token: RawToken, operands: list[_Operand], frames: list[_Frame]) -> None:
        """Handle ')': finish a parenthesised group or a call."""
        self.reduce(operands, frames, 0, False)
        if not frames:
            raise ParseError("unmatched ')'", _span(token))
        kind, name, _, args = frames.pop()
        self.open -= 1
        self.advance()
        end = token[3]
        if kind == "paren":
            node, _, _, own_start, own_end = operands.pop()
            operands.append((node, name[2], end, own_start, own_end))
            return
        count = args + 1
        self.check_arity(name, count, token)
        call_args = tuple(op[0] for op in operands[-count:])
        del operands[-count:]
        start = name[2]
        func = ALIASES.get(name[1], name[1])
        operands.append((self.maker.call(func, call_args, start, end), start, end, start, end))

    def check_arity(self, name: RawToken, count: int, at: RawToken) -> None:
        low, high = FUNCTIONS[name[1]]
        if low <= count and (high is None or count <= high):
            return
        if high is None:
            wanted = f"{low} or more arguments"
        elif low == high:
            wanted = f"{low} argument" + ("s" if low != 1 else "")
        else:
            wanted = f"{low} to {high} arguments"
        raise ParseError(f"{name[1]} takes {wanted}, got {count}", Span(name[2], at[3]))

    def unclosed(self, frame: _Frame, found: RawToken) -> None:
        opener = frame[1]
        what = "'('" if frame[0] == "paren" else f"the call of {opener[1]}"
        where = self.column(opener)
        raise ParseError(
            f"expected ')' to close {what} at {where}, found {describe(found)}",
            _span(found),
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
        return _Parser(source, Tree(source)).program()


def read(source: str, maker: Maker[Made]) -> Made:
    """Parse a program, handing each piece to `maker`; what its `finish` returns.
    Raises ParseError with a span on any syntax error."""
    with cycle_collector_paused():
        return _Parser(source, maker).program()
