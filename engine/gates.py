"""The gate table: each gate's forward value and local derivatives, side by side.

Vocabulary (as in PyTorch's derivatives.yaml header):
  a, b   the gate's inputs (for max, min and logsumexp, `args` is all of them);
  out    the gate's forward value;
  local  the partial derivative of `out` with respect to one input, d out / d a.

`forward` takes the inputs and returns `out`. `local` takes the inputs and
then `out`, `local(a, b, out)`, and returns one local derivative per input,
as a tuple; `kink` takes the same arguments. Both work on
Python floats through `math` (PITFALLS: numpy's exp differs by an ulp), and a
local derivative never raises: where it is infinite or undefined it returns
inf or nan, and the passes report that as a note.

`sympy` builds the same gate from SymPy expressions (the cross-check's
second opinion); `kink` says, for the inputs at hand, whether the gate is at a
point where it is not differentiable, and which convention (PyTorch's) the
local derivative used. `flat` says, for each input, whether the gate's
output stays put near the point when that input alone moves (relu below 0,
x**0, a max's losing arguments): that zero local derivative is exact, so the
backward pass sends nothing back through it, even an infinite or nan gradient
from above (sqrt(relu(x)) at x = -1 has gradient 0, not 0 * inf = nan;
PyTorch masks these the same way). Forward failures (math domain errors, division by
zero, overflow) surface as Python exceptions that the forward pass turns into
a DomainError naming the gate; `domain` says what the gate needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INF = math.inf
NAN = math.nan


@dataclass(frozen=True)
class Gate:
    """One row of the table."""

    name: str
    arity: int  # 0 for leaves, -1 for two or more
    forward: Callable[..., float]
    vjp: Callable[..., tuple[Any, ...]]
    sympy: Callable[..., Any]
    label: str  # how the seed names the gate: "add", "multiply", "1/x", ...
    domain: str = ""  # what the gate needs, for the error message
    kink: Callable[..., str | None] | None = None
    flat: Callable[..., tuple[bool, ...]] | None = None

    def local(self, *args_out: float) -> tuple[float, ...]:
        """The local derivatives at the inputs and `out`: the vjp rule with a gradient of 1."""
        from backprop.engine.arith import floats

        sent = self.vjp(floats(), 1.0, *args_out)
        return tuple(0.0 if d is None else d for d in sent)


def _leaf(*_: Any) -> tuple[float, ...]:
    raise TypeError("leaves have no local derivative")


def _not_implemented(*_: Any) -> Any:
    raise NotImplementedError("this gate has no rule here")


# --- forwards that need more than a line ------------------------------------


def _sigmoid(a: float) -> float:
    # Stable for large |a|: never exp of a large positive number.
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    z = math.exp(a)
    return z / (1.0 + z)


def _softplus(a: float) -> float:
    # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): no overflow for large a.
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _sigmoid_slope(a: float) -> float:
    # sigmoid(a) * (1 - sigmoid(a)) from the input, as e / (1 + e)^2 with
    # e = exp(-|a|): from the rounded output, 1 - out cancels to 0 by a = 37
    # while the true slope is 8.5e-17 (and 4.2e-18 at a = 40).
    e = math.exp(-abs(a))
    return e / ((1.0 + e) * (1.0 + e))


def tanh_slope(a: float) -> float:
    # 1 - tanh(a)^2 = 4e / (1 + e)^2 with e = exp(-2|a|), for the same reason:
    # 1 - out * out is 0 from a = 19.1 on, where the true slope is 1e-16.
    e = math.exp(-2.0 * abs(a))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _logsumexp(*args: float) -> float:
    # max + log(sum(exp(a_i - max))): no exp overflows, and the max's own term
    # is exactly 1, so the sum is 1 + the others' and log1p keeps their digits.
    top = max(args)
    k = args.index(top)
    rest = math.fsum(math.exp(x - top) for i, x in enumerate(args) if i != k)
    return top + math.log1p(rest)


def _relu(a: float) -> float:
    return a if a > 0 else 0.0


def _div(a: float, b: float) -> float:
    return a / b


# --- local derivatives that need more than a line ----------------------------


def _pow_flat(a: float, b: float, out: float) -> tuple[bool, bool]:
    # a**0 is 1 whatever a is; 1**b is 1 whatever b is, and 0**b is 0 for every b near a b > 0.
    # (At b = 0, 0**b jumps from 1 to 0: not flat, so an infinite gradient from above stays nan.)
    return (b == 0, a == 1 or (a == 0 and b > 0))


def _pow_kink(a: float, b: float, out: float) -> str | None:
    # 0**b jumps from 1 at b = 0 to 0 for b > 0: no derivative in the exponent there.
    if a == 0 and b == 0:
        return "0**0 is not differentiable: the local derivatives are taken as 0 (PyTorch's rule)"
    return None


# 2/sqrt(pi), correctly rounded (computing it in floats would add an ulp of error
# to every slope that uses it).
TWO_OVER_SQRT_PI = 1.1283791670955126
_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitting constant for doubles


def _erf_slope(a: float) -> float:
    # 2/sqrt(pi) * exp(-a^2). Far out a^2 rounds by up to 1e-14 absolute at
    # a = 20, which exp turns into a relative error; split a^2 = p + e exactly
    # (Dekker's product) and use exp(-p - e) = exp(-p) * (1 - e).
    if abs(a) > 28.0:
        return 0.0  # exp(-784) is below the smallest float
    c = _SPLIT * a
    high = c - (c - a)
    low = a - high
    p = a * a
    e = ((high * high - p) + 2.0 * high * low) + low * low
    return TWO_OVER_SQRT_PI * math.exp(-p) * (1.0 - e)


def _atan2_kink(y: float, x: float, out: float) -> str | None:
    if y == 0 and x == 0:
        return (
            "atan2 is not differentiable at (0, 0), where the angle is undefined: "
            "the local derivatives are nan (PyTorch's rule)"
        )
    return None


def _hypot_kink(a: float, b: float, out: float) -> str | None:
    if a == 0 and b == 0:
        return (
            "hypot is not differentiable at (0, 0): the local derivatives are taken as 0 "
            "(as for abs at 0 and PyTorch's vector_norm)"
        )
    return None


def _losers(*args_out: float) -> tuple[bool, ...]:
    *args, out = args_out
    return tuple(x != out for x in args)


def _tie(*args_out: float) -> str | None:
    *args, out = args_out
    k = sum(1 for x in args if x == out)
    if k < 2:
        return None
    return f"tie between {k} arguments: each gets 1/{k} of the gradient (PyTorch's rule)"


def _at_zero(name: str, rule: str) -> Callable[[float, float], str | None]:
    def kink(a: float, out: float) -> str | None:
        return f"{name} is not differentiable at 0: {rule} (PyTorch's rule)" if a == 0 else None

    return kink


def _log1p_sympy(sp: Any, a: Any) -> Any:
    # SymPy's log(1 + a) rounds a = 1e-30 into the 1 even at 40 digits; its
    # codegen log1p is evaluated as log1p (mpmath's) and differentiates to 1/(1 + a).
    from sympy.codegen.cfunctions import log1p

    return log1p(a)


def _expm1_sympy(sp: Any, a: Any) -> Any:
    from sympy.codegen.cfunctions import expm1  # exp(a) - 1 cancels near 0, as above

    return expm1(a)


def _logsumexp_sympy(sp: Any, *args: Any) -> Any:
    return sp.log(sp.Add(*[sp.exp(x) for x in args]))


def _where(c: float, t: float, f: float) -> float:
    # where(c, t, f): t where c > 0, else f (JAX's select); the derivative programs'
    # way of sending nothing through a flat gate, rather than 0 * inf = nan.
    return t if c > 0 else f


def _where_flat(c: float, t: float, f: float, out: float) -> tuple[bool, bool, bool]:
    return (True, not c > 0, c > 0)


def _where_kink(c: float, t: float, f: float, out: float) -> str | None:
    if c == 0 and t != f:
        return "where(c, t, f) jumps at c = 0: the local derivative in c is taken as 0"
    return None


def _where_sympy(sp: Any, c: Any, t: Any, f: Any) -> Any:
    return sp.Piecewise((t, c > 0), (f, True))


def _sign(a: float) -> float:
    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0


def _max_sympy(sp: Any, *args: Any) -> Any:
    return sp.Max(*args)


def _min_sympy(sp: Any, *args: Any) -> Any:
    return sp.Min(*args)


# --- vjp rules that need more than a line --------------------------------------


def _div_vjp(L: Any, g: Any, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
    recip = L.div(1.0, b)
    return g * recip, g * (-out * recip)


def _pow_vjp(L: Any, g: Any, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
    # PyTorch's pow_backward: nothing flows to a where b == 0 (a**0 is 1 for
    # every a), nor to b where a == 1 or a == 0 (1**b and 0**b stay put); the
    # log of a negative base is nan (PyTorch gives nan too).
    # At 0**0 the exponent's local derivative is 0 but not flat (0**b jumps from
    # 1 to 0 there): an infinite gradient from above gives nan, as 0 * inf.
    da = L.where(L.abs(b), g * (b * L.pow(a, b - 1.0)), 0.0)
    at_zero = L.where(b, 0.0, g * 0.0)
    # log(1) in place of log(0): the branch that reads it is not taken at a = 0, and a
    # printed program evaluates every branch (log(0) would be an error there).
    log_a = L.log(L.where(L.abs(a), a, 1.0))
    db = L.where(L.abs(a), L.where(L.abs(a - 1.0), g * (out * log_a), 0.0), at_zero)
    return da, db


def _extreme_vjp(L: Any, g: Any, *args_out: Any) -> tuple[Any, ...]:
    # PyTorch's amax/amin backward: the winners (equal to out) share the gradient
    # evenly, 1/k each; the others are flat: nothing flows, even an infinite gradient.
    *args, out = args_out
    winners = [L.where(L.abs(x - out), 0.0, 1.0) for x in args]
    count = winners[0]
    for w in winners[1:]:
        count = count + w
    share = g * L.div(1.0, count)
    return tuple(L.where(w, share, 0.0) for w in winners)


def _atan2_vjp(L: Any, g: Any, y: Any, x: Any, out: Any) -> tuple[Any, Any]:
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2), through r = hypot(y, x):
    # x^2 + y^2 itself overflows past 1e154 and underflows below 1e-162. At (0, 0)
    # 0/0 is nan, PyTorch's atan2_backward too (x * (1/0) = 0 * inf).
    r = L.hypot(y, x)
    return g * L.div(L.div(x, r), r), g * L.div(L.div(-y, r), r)


def _hypot_vjp(L: Any, g: Any, a: Any, b: Any, out: Any) -> tuple[Any, Any]:
    # a/out and b/out; at (0, 0) nothing: hypot(a, 0) = abs(a), and abs'(0) = 0
    # (torch.linalg.vector_norm also gives 0; torch.hypot's a / out gives nan).
    safe = L.where(out, out, 1.0)  # 1 in place of 0: that branch is not taken there
    return L.where(out, g * L.div(a, safe), 0.0), L.where(out, g * L.div(b, safe), 0.0)


def _logsumexp_vjp(L: Any, g: Any, *args_out: Any) -> tuple[Any, ...]:
    # The softmax weights exp(a_i - max) / sum(exp(a_j - max)): each in [0, 1],
    # no overflow, and accurate far out (not exp(a_i - out), which inherits
    # out's rounding: out = 1e10 is off by 1e-6 absolute).
    *args, out = args_out
    top = L.max(*args)
    terms = [L.exp(x - top) for x in args]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return tuple(g * L.div(t, total) for t in terms)


# --- the table ----------------------------------------------------------------

_ROWS = [
    Gate("var", 0, _not_implemented, _leaf, _not_implemented, "input"),
    Gate("const", 0, _not_implemented, _leaf, _not_implemented, "constant"),
    # name   arity forward             vjp: what flows back to each input             sympy
    Gate("add", 2, lambda a, b: a + b, lambda L, g, a, b, out: (g, g), lambda sp, a, b: a + b, "add"),
    Gate("sub", 2, lambda a, b: a - b, lambda L, g, a, b, out: (g, -g), lambda sp, a, b: a - b,
         "subtract"),
    Gate("mul", 2, lambda a, b: a * b, lambda L, g, a, b, out: (g * b, g * a),
         lambda sp, a, b: a * b, "multiply"),
    Gate("div", 2, _div, _div_vjp, lambda sp, a, b: a / b, "divide", "a non-zero divisor"),
    Gate("neg", 1, lambda a: -a, lambda L, g, a, out: (-g,), lambda sp, a: -a, "*-1"),
    Gate("pos", 1, lambda a: +a, lambda L, g, a, out: (g,), lambda sp, a: a, "*+1"),
    Gate("pow", 2, math.pow, _pow_vjp, lambda sp, a, b: a**b, "power",
         "a positive base, or an integer exponent (and no 0 to a negative power)",
         kink=_pow_kink, flat=_pow_flat),
    Gate("exp", 1, math.exp, lambda L, g, a, out: (g * out,), lambda sp, a: sp.exp(a), "exp"),
    Gate("log", 1, math.log, lambda L, g, a, out: (g * L.div(1.0, a),), lambda sp, a: sp.log(a),
         "log", "a positive argument"),
    Gate("log1p", 1, math.log1p, lambda L, g, a, out: (g * L.div(1.0, 1.0 + a),), _log1p_sympy,
         "log1p", "an argument greater than -1"),
    Gate("expm1", 1, math.expm1, lambda L, g, a, out: (g * L.exp(a),), _expm1_sympy, "expm1"),
    Gate("log2", 1, math.log2, lambda L, g, a, out: (g * L.div(1.0, a * L.log(2.0)),),
         lambda sp, a: sp.log(a, 2), "log2", "a positive argument"),
    Gate("log10", 1, math.log10, lambda L, g, a, out: (g * L.div(1.0, a * L.log(10.0)),),
         lambda sp, a: sp.log(a, 10), "log10", "a positive argument"),
    Gate("sqrt", 1, math.sqrt, lambda L, g, a, out: (g * L.div(1.0, 2.0 * out),),
         lambda sp, a: sp.sqrt(a), "sqrt", "a non-negative argument"),
    Gate("sin", 1, math.sin, lambda L, g, a, out: (g * L.cos(a),), lambda sp, a: sp.sin(a), "sin"),
    Gate("cos", 1, math.cos, lambda L, g, a, out: (g * -L.sin(a),), lambda sp, a: sp.cos(a), "cos"),
    Gate("tan", 1, math.tan, lambda L, g, a, out: (g * (1.0 + out * out),),
         lambda sp, a: sp.tan(a), "tan"),
    Gate("asin", 1, math.asin, lambda L, g, a, out: (g * L.div(1.0, L.sqrt(1.0 - a * a)),),
         lambda sp, a: sp.asin(a), "asin", "an argument between -1 and 1"),
    Gate("acos", 1, math.acos, lambda L, g, a, out: (g * -L.div(1.0, L.sqrt(1.0 - a * a)),),
         lambda sp, a: sp.acos(a), "acos", "an argument between -1 and 1"),
    Gate("atan", 1, math.atan, lambda L, g, a, out: (g * L.div(1.0, 1.0 + a * a),),
         lambda sp, a: sp.atan(a), "atan"),
    Gate("atan2", 2, math.atan2, _atan2_vjp, lambda sp, y, x: sp.atan2(y, x), "atan2",
         kink=_atan2_kink),
    Gate("hypot", 2, math.hypot, _hypot_vjp, lambda sp, a, b: sp.sqrt(a**2 + b**2), "hypot",
         kink=_hypot_kink),
    Gate("erf", 1, math.erf, lambda L, g, a, out: (g * L.derf(a),), lambda sp, a: sp.erf(a), "erf"),
    Gate("sinh", 1, math.sinh, lambda L, g, a, out: (g * L.cosh(a),), lambda sp, a: sp.sinh(a),
         "sinh"),
    Gate("cosh", 1, math.cosh, lambda L, g, a, out: (g * L.sinh(a),), lambda sp, a: sp.cosh(a),
         "cosh"),
    # The slopes of tanh and sigmoid come from the input, not from out: 1 - out**2
    # is 0 from a = 19.1 on, where the true slope is 1e-16.
    Gate("tanh", 1, math.tanh, lambda L, g, a, out: (g * L.dtanh(a),), lambda sp, a: sp.tanh(a),
         "tanh"),
    Gate("sigmoid", 1, _sigmoid, lambda L, g, a, out: (g * L.dsigmoid(a),),
         lambda sp, a: 1 / (1 + sp.exp(-a)), "sigmoid"),
    Gate("softplus", 1, _softplus, lambda L, g, a, out: (g * L.sigmoid(a),),
         lambda sp, a: sp.log(1 + sp.exp(a)), "softplus"),
    # relu below 0 is flat: nothing flows back, not 0 * the gradient from above.
    Gate("relu", 1, _relu, lambda L, g, a, out: (L.where(a, g, 0.0),),
         lambda sp, a: sp.Max(a, 0), "relu", kink=_at_zero("relu", "the local derivative is 0"),
         flat=lambda a, out: (a <= 0,)),
    # PyTorch: abs'(0) = sgn(0) = 0.
    Gate("abs", 1, math.fabs, lambda L, g, a, out: (g * L.sign(a),), lambda sp, a: sp.Abs(a),
         "abs", kink=_at_zero("abs", "the local derivative is 0")),
    Gate("max", -1, max, _extreme_vjp, _max_sympy, "max", kink=_tie, flat=_losers),
    Gate("min", -1, min, _extreme_vjp, _min_sympy, "min", kink=_tie, flat=_losers),
    Gate("logsumexp", -1, _logsumexp, _logsumexp_vjp, _logsumexp_sympy, "logsumexp"),
    # The gates that derivatives are written with (backprop grad prints them):
    # the slopes of tanh, sigmoid and erf computed from the input (accurate far
    # out); where(c, t, f), which passes the gradient only to the branch it picked;
    # sign, flat but at 0.
    Gate("dtanh", 1, tanh_slope, lambda L, g, a, out: (g * (-2.0 * L.tanh(a) * out),),
         lambda sp, a: 4 / (sp.exp(a) + sp.exp(-a)) ** 2, "dtanh"),
    Gate("dsigmoid", 1, _sigmoid_slope,
         lambda L, g, a, out: (g * (out * (1.0 - 2.0 * L.sigmoid(a))),),
         lambda sp, a: sp.exp(-a) / (1 + sp.exp(-a)) ** 2, "dsigmoid"),
    Gate("derf", 1, _erf_slope, lambda L, g, a, out: (g * (-2.0 * a * out),),
         lambda sp, a: 2 / sp.sqrt(sp.pi) * sp.exp(-(a**2)), "derf"),
    Gate("where", 3, _where, lambda L, g, c, t, f, out: (None, L.where(c, g, 0.0), L.where(c, 0.0, g)),
         _where_sympy, "where", kink=_where_kink, flat=_where_flat),
    Gate("sign", 1, _sign, lambda L, g, a, out: (None,), lambda sp, a: sp.sign(a), "sign",
         kink=_at_zero("sign", "the local derivative is 0"), flat=lambda a, out: (True,)),
]  # fmt: skip

GATES: dict[str, Gate] = {gate.name: gate for gate in _ROWS}
