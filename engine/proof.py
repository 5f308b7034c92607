"""SymPy's side of `backprop check`: prove a claimed derivative equal, or say how it differs.

The SymPy expressions come from graphs (the program's, and the claim's built
in the program's scope), interpreted node by node through the gate table's
`sympy` column: user text never reaches SymPy. Number literals become exact
rationals of their decimal text (0.1 is 1/10, parsed by Python's Fraction), so
that a claim written with 0.2 where the program has 0.1*x^2 can be proved.
Everything here runs inside a CPU-time budget set by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from backprop.engine.gates import GATES
from backprop.engine.graph import Graph

# SymPy's expressions are trees and its algorithms recurse: past this many
# nodes no proof is attempted (the points still judge the claim).
NODE_LIMIT = 2_000
# A relation (a factor, a term) counts as simple up to this many operations
# (SymPy's count_ops): `2*x` is 1, `cos(x^2)` is 2, `2*exp(2*x)/(exp(x) + 1)^2` is 7.
SIMPLE_OPS = 8


def _constant(sp: Any, label: str, value: float) -> Any:
    if label == "pi":
        return sp.pi
    if label == "e":
        return sp.E
    try:
        exact = Fraction(label)  # the literal as written: 0.1 is 1/10
    except (ValueError, ZeroDivisionError):
        exact = Fraction(value)  # a constant the graph computed: its binary value
    return sp.Rational(exact.numerator, exact.denominator)


def expressions(sp: Any, graph: Graph, wanted: Sequence[int]) -> dict[int, Any]:
    """The SymPy expressions of the `wanted` nodes of `graph`, in the inputs' symbols
    (one loop over the nodes they need); a BackpropError past NODE_LIMIT nodes."""
    nodes = graph.nodes
    needed = [False] * len(nodes)
    for i in wanted:
        needed[i] = True
    for i in range(max(wanted, default=-1), -1, -1):
        if needed[i]:
            for j in nodes[i].inputs:
                needed[j] = True
    if sum(needed) > NODE_LIMIT:
        raise TooLarge(f"{sum(needed):,} nodes, over the {NODE_LIMIT:,} SymPy is given")
    exprs: list[Any] = [None] * len(nodes)
    for i, node in enumerate(nodes):
        if not needed[i]:
            continue
        if node.op == "var":
            exprs[i] = sp.Symbol(node.label, real=True)
        elif node.op == "const":
            exprs[i] = _constant(sp, node.label, node.value)
        else:
            exprs[i] = GATES[node.op].sympy(sp, *[exprs[j] for j in node.inputs])
    return {i: exprs[i] for i in wanted}


class TooLarge(Exception):
    """The expressions are too large for SymPy."""


def pytorch(sp: Any, expr: Any) -> Any:
    """`expr` with SymPy's Heaviside(u) (relu's and max's derivative, 1/2 at 0) as our
    where(u, 1, 0): the two differ only at u = 0."""
    return expr.replace(sp.Heaviside, lambda u, *_: sp.Piecewise((1, u > 0), (0, True)))


def _negligible(sp: Any, condition: Any) -> bool:
    """A condition that holds on a set of measure zero only (x = 0)."""
    if isinstance(condition, sp.Eq):
        return True
    if isinstance(condition, sp.And):
        return any(_negligible(sp, c) for c in condition.args)
    if isinstance(condition, sp.Or):
        return all(_negligible(sp, c) for c in condition.args)
    return False


def almost_everywhere(sp: Any, expr: Any) -> Any:
    """A Piecewise that is one expression except on a set of measure zero, as that
    expression (x/abs(x) - sign(x) is 0 but at x = 0); anything else as it is."""
    if not isinstance(expr, sp.Piecewise):
        return expr
    kept = {value for value, cond in expr.args if not _negligible(sp, cond)}
    return kept.pop() if len(kept) == 1 else expr


def proved_equal(sp: Any, claim: Any, true: Any) -> str | None:
    """How SymPy proves claim == true (None if it does not): cheap forms first. Equal
    except on a set of measure zero (x/abs(x) for abs's derivative) counts."""
    difference = claim - pytorch(sp, true)
    if difference == 0:
        return "identical"
    for name, transform in (
        ("expand", sp.expand),
        ("cancel", lambda e: sp.cancel(sp.together(e))),
        ("exponentials", lambda e: sp.cancel(sp.expand(e.rewrite(sp.exp)))),
        ("simplify", sp.simplify),
    ):
        found = almost_everywhere(sp, transform(difference))
        if found == 0:
            return name
    if difference.equals(0) is True:
        return "equals"
    return None


@dataclass(frozen=True)
class Difference:
    """How a wrong claim differs from the derivative: a kind and a sentence."""

    kind: str  # "sign", "factor", "missing factor", "term"
    detail: str


def _text(sp: Any, expr: Any) -> str:
    from backprop.engine.printing import NotPrintable, sympy_to_bp

    try:
        return sympy_to_bp(expr)
    except NotPrintable:
        return str(sp.sstr(expr))


def _ops(sp: Any, expr: Any) -> int:
    return int(sp.count_ops(expr))


def _terms(sp: Any, expr: Any) -> list[Any]:
    """The terms of `expr` as written, then those of its expansion."""
    terms = list(sp.Add.make_args(expr))
    if _ops(sp, expr) <= 40:  # expanding a large derivative costs more than it tells
        terms += [t for t in sp.Add.make_args(sp.expand(expr)) if t not in terms]
    return terms


def _simple_factor(sp: Any, factor: Any, claim: Any, true: Any, program: Any) -> bool:
    """A product of a few powers and functions (2*x, cos(x), 1/(1 + x^2)) built from
    what the claim, the derivative and the program have: no sum as a factor of its own,
    and no function or sum none of them has (SymPy's cosh(2*x) for
    (1 + tanh^2)/(1 - tanh^2), or 1 + 2*exp(x), is no one's mistake)."""
    if factor.is_Add or factor.is_finite is False or _ops(sp, factor) > 4:
        return False
    if any(part.is_Add for part in sp.Mul.make_args(factor)):
        return False
    sources = (claim, true, program)
    functions = {type(f) for e in sources for f in e.atoms(sp.Function)}
    sums = {a for e in sources for a in e.atoms(sp.Add)}
    return {type(f) for f in factor.atoms(sp.Function)} <= functions and all(
        a in sums or -a in sums for a in factor.atoms(sp.Add)
    )


class _Numbers:
    """Expressions evaluated at the claim's points (with check.py's compiled mpmath
    evaluator, never SymPy's string machinery): a relation the numbers rule out is
    not put to SymPy, whose simplify takes most of the budget."""

    def __init__(self, sp: Any, symbols: list[Any], points: Sequence[dict[str, float]]) -> None:
        import mpmath
        from backprop.engine.check import _Evaluator

        self.sp = sp
        self.symbols = symbols
        self.ctx = mpmath.MPContext()
        self.ctx.prec = 100
        self.evaluator = _Evaluator(sp, self.ctx)
        self.points = [[self.ctx.mpf(p[s.name]) for s in symbols] for p in points]

    def __call__(self, expr: Any) -> list[Any] | None:
        from backprop.engine.check import _Unsupported

        if not self.points:
            return None
        try:
            code = self.evaluator.compile(expr, self.symbols)
        except _Unsupported:
            return None
        out = [self.evaluator.real(self.evaluator.run(code, p)) for p in self.points]
        return out if all(self.ctx.isfinite(v) for v in out) else None

    def same(self, a: list[Any] | None, b: list[Any] | None) -> bool:
        """Equal at every point (relative 1e-20); True when either is unknown."""
        if a is None or b is None:
            return True
        return all(abs(x - y) <= 1e-20 * max(abs(x), abs(y), 1e-30) for x, y in zip(a, b))


def _zero(sp: Any, expr: Any) -> bool:
    return bool(almost_everywhere(sp, sp.simplify(expr)) == 0)


def classify(
    sp: Any,
    claim: Any,
    true: Any,
    program: Any,
    wrt: Any,
    points: Sequence[dict[str, float]] = (),
) -> Difference | None:
    """The simplest relation between a wrong claim and the true derivative, if SymPy
    finds one, in this order: the opposite sign, a constant factor, the chain rule's
    inner derivative missing, a term of one that the other lacks, a simple missing (or
    extra) factor, a small missing (or extra) term. `points` (where both are defined)
    let the numbers rule relations out before SymPy tries them."""
    true = pytorch(sp, true)
    symbols = sorted(claim.free_symbols | true.free_symbols | program.free_symbols, key=str)
    num = _Numbers(sp, symbols, points)
    c, t = num(claim), num(true)
    if num.same(c, None if t is None else [-v for v in t]) and _zero(sp, claim + true):
        return Difference("sign", "the claim has the wrong sign: it is -1 times the derivative")
    if true == 0 or claim == 0:
        term = claim - true
        return _term(sp, term) if _ops(sp, term) <= SIMPLE_OPS else None
    ratios = None if c is None or t is None or 0 in t else [a / b for a, b in zip(c, t)]
    if num.same(ratios, None if ratios is None else [ratios[0]] * len(ratios)):
        ratio = almost_everywhere(sp, sp.simplify(claim / true))
        if not ratio.free_symbols and ratio.is_finite and ratio != 0:
            return Difference(
                "factor",
                f"the claim is {_text(sp, ratio)} times the derivative (a constant factor)",
            )
    wanted = None if c is None or t is None or 0 in c else [b / a for a, b in zip(c, t)]
    inner = _inner_derivative(sp, num, wanted, claim, true, program, wrt)
    if inner is not None:
        u, du = inner
        return Difference(
            "missing factor",
            f"the claim misses the factor {_text(sp, du)}: the chain rule's inner "
            f"derivative, d/d{wrt} of {_text(sp, u)}",
        )
    # A term the claim dropped (or added): one of the derivative's terms, as SymPy's
    # diff writes them (the product and quotient rules' terms) or expanded.
    gap = None if c is None or t is None else [a - b for a, b in zip(c, t)]
    for source, terms in (("true", _terms(sp, true)), ("claim", _terms(sp, claim))):
        for term in terms:
            if term in (claim, true):
                continue
            values = num(term)
            sign = -1 if source == "true" else 1  # claim - true = -(a dropped term)
            signed = None if values is None else [sign * v for v in values]
            if num.same(gap, signed) and _zero(sp, claim - true - sign * term):
                if source == "true":
                    return Difference("term", f"the claim misses the term {_text(sp, term)}")
                return Difference("term", f"the claim has an extra term {_text(sp, term)}")
    missing = almost_everywhere(sp, sp.simplify(true / claim))
    if _simple_factor(sp, missing, claim, true, program) or _simple_factor(
        sp, 1 / missing, claim, true, program
    ):
        return _factor(sp, missing)
    term = almost_everywhere(sp, sp.simplify(claim - true))
    size = max(_ops(sp, claim), _ops(sp, true))
    if _ops(sp, term) <= SIMPLE_OPS and _ops(sp, term) <= size:
        return _term(sp, term)
    return None


def _term(sp: Any, term: Any) -> Difference:
    if term.could_extract_minus_sign():
        return Difference("term", f"the claim misses the term {_text(sp, -term)}")
    return Difference("term", f"the claim has an extra term {_text(sp, term)}")


def _factor(sp: Any, missing: Any) -> Difference:
    numerator, denominator = sp.fraction(sp.together(missing))
    if numerator == 1 and denominator != 1:
        return Difference(
            "missing factor", f"the claim has an extra factor {_text(sp, denominator)}"
        )
    return Difference("missing factor", f"the claim misses the factor {_text(sp, missing)}")


def _inner_derivative(
    sp: Any,
    num: _Numbers,
    wanted: list[Any] | None,
    claim: Any,
    true: Any,
    program: Any,
    wrt: Any,
) -> tuple[Any, Any] | None:
    """The argument u of a function f(u) in the program, and du, where the derivative
    is the claim times du: the chain rule's factor the claim left out."""
    seen = 0
    for sub in sp.preorder_traversal(program):
        seen += 1
        if seen > 500:
            return None
        if not (isinstance(sub, sp.Function) or sub.is_Pow):
            continue
        inner = sub.args[0]
        if inner == wrt or not inner.has(wrt):
            continue
        du = sp.diff(inner, wrt)
        if du.is_constant():
            continue  # a constant factor: the factor kind
        if num.same(wanted, num(du)) and _zero(sp, true - claim * du):
            return inner, du
    return None
