"""Hypothesis strategies for backprop programs, and the tests' own reference semantics.

`programs()` draws a whole program of the language (every gate, `pi`/`e`,
`^` and `**`, prefix signs, assignments with rebinding and shadowing,
fan-out, comments, `;`/newline/CRLF separators, a byte-order mark) together
with a point. Programs are built bottom-up with their values known, and each
argument that would leave its gate's domain, or sit near a kink, is guarded
by a wrapper written into the program itself (`log(1 + a**2)`, `asin(tanh(a)/2)`,
`relu(a + 0.5)`), so nearly every example evaluates and is differentiable
in a neighbourhood of the point (finite differences need that).

The tests' own semantics live here too, independent of the engine:
`reference_value` evaluates the generated structure through Python's `math`,
`sexpr` writes its S-expression, and `to_source` prints a parsed syntax tree
back to text (iteratively: trees may be 50,000 levels deep).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import mpmath
from backprop.parser.lang import ALIASES
from backprop.parser.tree import Assign, Binary, Call, Expr, Name, Num, Program, Unary
from hypothesis import strategies as st

# --- the generated structure (the tests' own, not the parser's tree) ----------


@dataclass(frozen=True)
class GNum:
    text: str


@dataclass(frozen=True)
class GName:
    name: str


@dataclass(frozen=True)
class GUnary:
    op: str
    operand: GExpr


@dataclass(frozen=True)
class GBinary:
    op: str
    left: GExpr
    right: GExpr


@dataclass(frozen=True)
class GCall:
    func: str
    args: tuple[GExpr, ...]


GExpr = GNum | GName | GUnary | GBinary | GCall


@dataclass(frozen=True)
class GenProgram:
    """A generated program: its statements, its text, and the point to evaluate it at."""

    statements: tuple[tuple[str | None, GExpr], ...]
    source: str
    point: dict[str, float] = field(default_factory=dict)


# --- reference semantics through Python's math --------------------------------


def _sigmoid(a: float) -> float:
    # In 40 digits, rounded once: the naive float formulas lose digits on their own
    # (log(1 + e^a) keeps only eps/e^a of its relative accuracy for a << 0).
    with mpmath.workdps(40):
        return float(1 / (1 + mpmath.exp(-a)))


def _softplus(a: float) -> float:
    with mpmath.workdps(40):
        return float(mpmath.log1p(mpmath.exp(a)))


MATH: dict[str, Callable[..., float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": lambda a: a if a > 0 else 0.0,
    "abs": abs,
    "pow": math.pow,
    "max": lambda *args: max(args),
    "min": lambda *args: min(args),
    "ln": math.log,
    "log1p": math.log1p,
    "expm1": math.expm1,
    "log2": math.log2,
    "log10": math.log10,
    "erf": math.erf,
    "atan2": math.atan2,
    "hypot": math.hypot,
    "logsumexp": lambda *args: math.log(math.fsum(math.exp(a) for a in args)),
}
BINARY_MATH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": math.pow,
    "^": math.pow,
}
CONSTANTS = {"pi": math.pi, "e": math.e}


def expr_value(expr: GExpr, env: Mapping[str, float]) -> float:
    """The value of `expr` with names looked up in `env` (bindings, then inputs)."""
    if isinstance(expr, GNum):
        return float(expr.text)
    if isinstance(expr, GName):
        return env[expr.name] if expr.name in env else CONSTANTS[expr.name]
    if isinstance(expr, GUnary):
        value = expr_value(expr.operand, env)
        return -value if expr.op == "-" else value
    if isinstance(expr, GBinary):
        return BINARY_MATH[expr.op](expr_value(expr.left, env), expr_value(expr.right, env))
    return MATH[expr.func](*[expr_value(arg, env) for arg in expr.args])


def reference_value(
    statements: tuple[tuple[str | None, GExpr], ...], point: Mapping[str, float]
) -> float:
    """The program's output through `math`; raises ValueError/ArithmeticError off-domain."""
    env = dict(point)
    value = math.nan
    for target, expr in statements:
        value = expr_value(expr, env)
        if not math.isfinite(value):
            raise OverflowError(f"{value}")
        if target is not None:
            env[target] = value
    return value


def sexpr(statements: tuple[tuple[str | None, GExpr], ...]) -> str:
    """The S-expression the parser should produce (see backprop.parser.to_sexpr)."""
    heads = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "^": "pow"}

    def one(expr: GExpr) -> str:
        if isinstance(expr, GNum):
            return expr.text
        if isinstance(expr, GName):
            return expr.name
        if isinstance(expr, GUnary):
            return f"({'neg' if expr.op == '-' else 'pos'} {one(expr.operand)})"
        if isinstance(expr, GBinary):
            return f"({heads[expr.op]} {one(expr.left)} {one(expr.right)})"
        func = ALIASES.get(expr.func, expr.func)  # ln(x) is the log gate: (log x)
        return f"({func} {' '.join(one(a) for a in expr.args)})"

    parts = [f"(= {t} {one(e)})" if t is not None else one(e) for t, e in statements]
    return "; ".join(parts)


# --- printing a parsed tree back to text (iterative) --------------------------

_BINARY_POWER = {"+": 10, "-": 10, "*": 20, "/": 20, "**": 40, "^": 40}
_PREFIX_POWER = 30
_ATOM = 50


def _power(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _BINARY_POWER[expr.op]
    if isinstance(expr, Unary):
        return _PREFIX_POWER
    return _ATOM


def _operand(expr: Expr, needs_parens: bool) -> list[Expr | str]:
    return ["(", expr, ")"] if needs_parens else [expr]


def to_source(tree: Program | Assign | Expr) -> str:
    """Text that parses back to the same tree: the fewest parentheses, `**`/`^` as written.

    The rules mirror the grammar: a left-associative operator parenthesises
    a right operand of equal power (`a-(b-c)`); `**` parenthesises a base
    of equal or lower power (`(-x)**2`, `(a**b)**c`) but lets an exponent
    carry a sign (`2**-1`); a sign needs parentheses around a sum or product
    only (`-(a*b)`, but `-x**2`).
    """
    if isinstance(tree, Program):
        return "\n".join(to_source(s) for s in tree.statements)
    out: list[str] = []
    stack: list[Expr | str] = [tree.value] if isinstance(tree, Assign) else [tree]
    if isinstance(tree, Assign):
        out.append(f"{tree.name} = ")
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        pieces: list[Expr | str]
        if isinstance(item, Num):
            pieces = [item.text]
        elif isinstance(item, Name):
            pieces = [item.name]
        elif isinstance(item, Unary):
            pieces = [item.op, *_operand(item.operand, _power(item.operand) < _PREFIX_POWER)]
        elif isinstance(item, Binary):
            power = _BINARY_POWER[item.op]
            if power == 40:  # right-associative
                left = _power(item.left) <= power
                right = _power(item.right) < power and not isinstance(item.right, Unary)
            else:
                left = _power(item.left) < power
                right = _power(item.right) <= power
            pieces = [
                *_operand(item.left, left),
                f" {item.op} ",
                *_operand(item.right, right),
            ]
        else:
            assert isinstance(item, Call)
            pieces = [f"{item.func}("]
            for k, arg in enumerate(item.args):
                pieces.extend([", ", arg] if k else [arg])
            pieces.append(")")
        stack.extend(reversed(pieces))
    return "".join(out)


# --- drawing programs ----------------------------------------------------------

INPUT_NAMES = ["x", "y", "z", "w0", "h"]
TARGETS = ["h", "t", "u1", "x", "pi", "e"]  # rebinding an input, new names, shadowing
UNARY_FUNCTIONS = [
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "sigmoid", "relu", "softplus", "abs",
    "ln", "log1p", "expm1", "log2", "log10", "erf",
]  # fmt: skip
NUMBER_TEXTS = ["3", "3.25", ".5", "5.", "1e-3", "2.5E+1", "007", "0", "1", "2", "0.1", "10"]
BIG = 30.0  # values past this are squashed with atan, so exp & co. stay finite
MARGIN = 0.05  # distance kept from kinks (relu, abs at 0; max/min ties)


def _num(text: str) -> GNum:
    return GNum(text)


def _plus(a: GExpr, b: GExpr) -> GBinary:
    return GBinary("+", a, b)


def _one_plus_square(a: GExpr) -> GExpr:
    """1 + a**2: positive, at least 1."""
    return _plus(_num("1"), GBinary("**", a, _num("2")))


Drawn = tuple[GExpr, float]


class _Builder:
    """Draws expressions bottom-up with their values, guarding each gate's domain."""

    def __init__(self, draw: st.DrawFn, env: dict[str, float], point: dict[str, float]) -> None:
        self.draw = draw
        self.env = env  # names bound so far -> value
        self.point = point  # every possible input -> value
        self.read: list[str] = []  # inputs read, in order

    def value(self, expr: GExpr) -> float:
        scope = {**self.point, **self.env}
        return expr_value(expr, scope)

    def squash(self, drawn: Drawn) -> Drawn:
        expr, value = drawn
        if abs(value) > BIG:
            expr = GCall("atan", (expr,))
            value = math.atan(value)
        return expr, value

    def leaf(self) -> Drawn:
        kind = self.draw(st.sampled_from(["input", "input", "bound", "number", "constant"]))
        if kind == "bound" and self.env:
            name = self.draw(st.sampled_from(sorted(self.env)))
            return GName(name), self.env[name]
        if kind == "number":
            text = self.draw(st.sampled_from(NUMBER_TEXTS))
            return GNum(text), float(text)
        if kind == "constant":
            name = self.draw(st.sampled_from(["pi", "e"]))
            return GName(name), self.env.get(name, CONSTANTS[name])
        name = self.draw(st.sampled_from(INPUT_NAMES))
        if name not in self.env and name not in self.read:
            self.read.append(name)
        return GName(name), self.env.get(name, self.point[name])

    def expr(self, depth: int) -> Drawn:
        if depth <= 0 or self.draw(st.integers(0, 3)) == 0:
            return self.leaf()
        kind = self.draw(st.sampled_from(["unary", "binary", "binary", "call", "call", "power"]))
        if kind == "unary":
            op = self.draw(st.sampled_from(["-", "-", "+"]))
            inner, value = self.expr(depth - 1)
            return GUnary(op, inner), (-value if op == "-" else value)
        if kind == "binary":
            op = self.draw(st.sampled_from(["+", "-", "*", "/"]))
            left, a = self.expr(depth - 1)
            right, b = self.expr(depth - 1)
            if op == "/" and abs(b) < 0.1:
                right = _one_plus_square(right)
                b = self.value(right)
            node = GBinary(op, left, right)
            return self.squash((node, self.value(node)))
        if kind == "power":
            return self.squash(self.power(depth))
        return self.squash(self.call(depth))

    def power(self, depth: int) -> Drawn:
        form = self.draw(st.sampled_from(["**", "^", "pow"]))
        base, a = self.expr(depth - 1)
        if self.draw(st.booleans()):
            # An integer exponent: any base; a negative one keeps away from 0.
            exponent_text = self.draw(st.sampled_from(["2", "3", "-1", "-2"]))
            if exponent_text.startswith("-"):
                exponent: GExpr = GUnary("-", GNum(exponent_text[1:]))
                if abs(a) < 0.1:
                    base = _one_plus_square(base)
            else:
                exponent = GNum(exponent_text)
        else:
            # Any exponent: a positive base, an exponent of moderate size.
            exponent, b = self.expr(depth - 1)
            if a < 0.1:
                base = _one_plus_square(base)
            if abs(b) > 3:
                exponent = GCall("atan", (exponent,))
        node: GExpr = (
            GCall("pow", (base, exponent)) if form == "pow" else GBinary(form, base, exponent)
        )
        return node, self.value(node)

    def call(self, depth: int) -> Drawn:
        func = self.draw(
            st.sampled_from([*UNARY_FUNCTIONS, "max", "min", "atan2", "hypot", "logsumexp"])
        )
        if func == "logsumexp":
            count = self.draw(st.integers(2, 3))
            node = GCall(func, tuple(self.expr(depth - 1)[0] for _ in range(count)))
            return node, self.value(node)
        if func in ("atan2", "hypot"):
            (first, a), (second, b) = self.expr(depth - 1), self.expr(depth - 1)
            # Away from (0, 0), where neither is differentiable, and from atan2's
            # jump across y = 0 for x < 0: the first argument keeps off 0.
            if abs(a) < MARGIN and (func == "atan2" or abs(b) < MARGIN):
                first = _plus(first, _num("0.5"))
            node = GCall(func, (first, second))
            return node, self.value(node)
        if func in ("max", "min"):
            count = self.draw(st.integers(2, 3))
            args = [self.expr(depth - 1) for _ in range(count)]
            values = [v for _, v in args]
            best = (max if func == "max" else min)(values)
            winner = values.index(best)
            # Move the runners-up that nearly tie with the winner away from it.
            away = "-" if func == "max" else "+"
            guarded = []
            for k, (arg, value) in enumerate(args):
                if k != winner and abs(value - best) < MARGIN:
                    arg = GBinary(away, arg, _num("0.5"))
                guarded.append(arg)
            node: GExpr = GCall(func, tuple(guarded))
            return node, self.value(node)
        arg, a = self.expr(depth - 1)
        low = {"log": 0.1, "ln": 0.1, "log2": 0.1, "log10": 0.1, "sqrt": 0.1, "log1p": -0.9}
        if func in low and a < low[func]:
            arg = _one_plus_square(arg)
        elif func in ("asin", "acos") and abs(a) > 0.9:
            arg = GBinary("/", GCall("tanh", (arg,)), _num("2"))
        elif func == "tan" and abs(math.cos(a)) < 0.2:
            arg = GCall("tanh", (arg,))
        elif func in ("relu", "abs") and abs(a) < MARGIN:
            arg = _plus(arg, _num("0.5"))
        node = GCall(func, (arg,))
        return node, self.value(node)


# --- text layout ------------------------------------------------------------------


class _Printer:
    """Writes a generated expression with drawn spacing and redundant parentheses."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def space(self) -> str:
        return self.draw(st.sampled_from(["", " ", " ", "  ", "\t"]))

    def inside(self) -> str:
        """Whitespace inside parentheses, where a newline continues the expression."""
        return self.draw(st.sampled_from(["", " ", "\n  "]))

    def write(
        self, expr: GExpr, power: int = 0, right: bool = False, exponent: bool = False
    ) -> str:
        """`expr` as an operand of an operator of binding power `power`.

        It needs parentheses when it binds more loosely, or equally as the
        right operand of a left-associative operator (a-(b-c)); an exponent
        may carry a sign without them (2**-1). Some get redundant ones.
        """
        own = _g_power(expr)
        needs = own < power or (own == power and right)
        if exponent and isinstance(expr, GUnary):
            needs = False
        text = self.bare(expr)
        if needs or self.draw(st.integers(0, 9)) == 0:
            text = f"({self.inside()}{text}{self.inside()})"
        return text

    def bare(self, expr: GExpr) -> str:
        if isinstance(expr, GNum):
            return expr.text
        if isinstance(expr, GName):
            return expr.name
        if isinstance(expr, GUnary):
            # The operand of a sign: a power binds tighter (-x**2), a sum or product does not.
            return expr.op + self.space() + self.write(expr.operand, _PREFIX_POWER)
        if isinstance(expr, GBinary):
            power = _BINARY_POWER[expr.op]
            if power == 40:  # right-associative: a power as the base needs parentheses
                left = self.write(expr.left, power + 1)
                right = self.write(expr.right, power, exponent=True)
            else:
                left = self.write(expr.left, power)
                right = self.write(expr.right, power, right=True)
            return f"{left}{self.space()}{expr.op}{self.space()}{right}"
        args = f",{self.space()}".join(self.write(a) for a in expr.args)
        return f"{expr.func}({self.inside()}{args}{self.inside()})"


def _g_power(expr: GExpr) -> int:
    if isinstance(expr, GBinary):
        return _BINARY_POWER[expr.op]
    if isinstance(expr, GUnary):
        return _PREFIX_POWER
    return _ATOM


COMMENTS = ["# a comment", "#", "# ünïcode — ok: [/] :smile:", "# x = 1/0"]


@st.composite
def programs(draw: st.DrawFn, max_statements: int = 4, max_depth: int = 4) -> GenProgram:
    """A program of the whole language and a point inside every gate's domain."""
    point = {
        name: draw(
            st.one_of(
                st.sampled_from([0.5, 1.0, -1.0, 2.0, -0.25, 3.0]),
                st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 6)),
            )
        )
        for name in INPUT_NAMES
    }
    env: dict[str, float] = {}
    builder = _Builder(draw, env, point)
    printer = _Printer(draw)
    statements: list[tuple[str | None, GExpr]] = []
    count = draw(st.integers(1, max_statements))
    for k in range(count):
        assign = k < count - 1 or draw(st.booleans())
        expr, value = builder.expr(draw(st.integers(0, max_depth)))
        target = draw(st.sampled_from(TARGETS)) if assign and draw(st.integers(0, 4)) else None
        if assign and target is None:
            target = draw(st.sampled_from(TARGETS))
        statements.append((target, expr))
        if target is not None:
            env[target] = value

    # The text: statements, separators, comments, maybe a byte-order mark.
    lines = []
    for target, expr in statements:
        text = printer.write(expr)
        if target is not None:
            text = f"{target}{printer.space()}={printer.space()}{text}"
        if draw(st.integers(0, 4)) == 0:
            text += f"{printer.space()} {draw(st.sampled_from(COMMENTS))}"
        lines.append(text)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    source = lines[0]
    for line in lines[1:]:
        if "#" in source.rsplit(newline, 1)[-1]:
            separator = newline  # a comment runs to the end of the line
        else:
            separator = draw(st.sampled_from([newline, ";", "; ", newline + newline]))
        if draw(st.integers(0, 5)) == 0:  # a comment-only line
            if not separator.endswith(newline):
                separator += newline
            separator += f"{draw(st.sampled_from(COMMENTS))}{newline}"
        source += separator + line
    if draw(st.integers(0, 3)) == 0:  # a trailing separator
        ends_in_comment = "#" in source.rsplit(newline, 1)[-1]
        source += newline if ends_in_comment else draw(st.sampled_from([";", newline]))
    if draw(st.integers(0, 9)) == 0:
        source = "\ufeff" + source
    inputs = {name: point[name] for name in builder.read}
    return GenProgram(tuple(statements), source, inputs)


# --- random text ---------------------------------------------------------------

SOUP_TOKENS = [
    *UNARY_FUNCTIONS, "pow", "max", "min", "pi", "e", "x", "y", "h", "_a1",
    "+", "-", "*", "/", "**", "^", "(", ")", ",", "=", ";", "\n", "\r\n", "#", " ",
    "0", "1", "2.5", ".5", "5.", "1e-3", "1e308", "1e400", "007", "0x10", "1_000", "9" * 30,
    "\u2212", "\u00a0", "\ufeff", "\u00b2", "\u0663", "α", "\x00", "\x1c",
]  # fmt: skip


def token_soups() -> st.SearchStrategy[str]:
    """Sequences of the language's tokens (and near misses), mostly not well formed."""
    return st.lists(st.sampled_from(SOUP_TOKENS), max_size=30).map("".join)


def any_text() -> st.SearchStrategy[str]:
    """Arbitrary Unicode text, surrogates included where the alphabet allows."""
    return st.text(max_size=60)
