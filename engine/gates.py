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
    local: Callable[..., tuple[float, ...]]
    sympy: Callable[..., Any]
    label: str  # how the seed names the gate: "add", "multiply", "1/x", ...
    domain: str = ""  # what the gate needs, for the error message
    kink: Callable[..., str | None] | None = None
    flat: Callable[..., tuple[bool, ...]] | None = None


def _leaf(*_: float) -> tuple[float, ...]:
    raise TypeError("leaves have no local derivative")


def _not_implemented(*_: Any) -> Any:
    raise NotImplementedError("this gate has no rule here")


def _recip(x: float) -> float:
    """1/x with IEEE results instead of ZeroDivisionError (for local derivatives)."""
    try:
        return 1.0 / x
    except ZeroDivisionError:
        return math.copysign(INF, x)


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


def _pow_local(a: float, b: float, out: float) -> tuple[float, float]:
    # PyTorch's pow_backward: d/da = 0 where b == 0; d/db = 0 where a == 0 and b >= 0.
    if b == 0:
        da = 0.0
    else:
        try:
            da = b * math.pow(a, b - 1)
        except ZeroDivisionError:
            da = math.copysign(INF, b)
        except ValueError:  # 0 to a negative power: the slope is infinite
            da = INF if b > 0 else NAN
        except OverflowError:
            # b * a**(b-1) is past the float range; its sign is b's, flipped
            # when a < 0 and b - 1 is odd (a < 0 here means b is an integer).
            sign = b * (math.pow(-1.0, b - 1) if a < 0 else 1.0)
            da = math.copysign(INF, sign)
    if a == 0 and b >= 0:
        db = 0.0
    elif a < 0:
        db = NAN  # the log of a negative base is not real (PyTorch gives nan too)
    else:
        db = out * math.log(a)
    return da, db


def _pow_flat(a: float, b: float, out: float) -> tuple[bool, bool]:
    # a**0 is 1 whatever a is; 1**b is 1 whatever b is, and 0**b is 0 for every b near a b > 0.
    # (At b = 0, 0**b jumps from 1 to 0: not flat, so an infinite gradient from above stays nan.)
    return (b == 0, a == 1 or (a == 0 and b > 0))


def _pow_kink(a: float, b: float, out: float) -> str | None:
    # 0**b jumps from 1 at b = 0 to 0 for b > 0: no derivative in the exponent there.
    if a == 0 and b == 0:
        return "0**0 is not differentiable: the local derivatives are taken as 0 (PyTorch's rule)"
    return None


# Correctly rounded constants: 2/sqrt(pi), 1/ln 2 and 1/ln 10 (computing them in
# floats would add an ulp of error to every slope that uses them).
TWO_OVER_SQRT_PI = 1.1283791670955126
LOG2_E = 1.4426950408889634
LOG10_E = 0.4342944819032518
_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's splitting constant for doubles


def _exp_safe(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return INF


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


def _atan2_local(y: float, x: float, out: float) -> tuple[float, float]:
    # d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2), through r = hypot(y, x):
    # x^2 + y^2 itself overflows past 1e154 and underflows below 1e-162.
    r = math.hypot(y, x)
    if r == 0:
        return (NAN, NAN)  # PyTorch's atan2_backward: x * (1/0) = 0 * inf = nan
    return ((x / r) / r, (-y / r) / r)


def _atan2_kink(y: float, x: float, out: float) -> str | None:
    if y == 0 and x == 0:
        return (
            "atan2 is not differentiable at (0, 0), where the angle is undefined: "
            "the local derivatives are nan (PyTorch's rule)"
        )
    return None


def _hypot_local(a: float, b: float, out: float) -> tuple[float, float]:
    if out == 0:
        # hypot(a, 0) = abs(a), and abs'(0) = 0; torch.linalg.vector_norm also
        # gives 0 at 0 (torch.hypot's own rule, a / out, gives 0/0 = nan).
        return (0.0, 0.0)
    return (a / out, b / out)


def _hypot_kink(a: float, b: float, out: float) -> str | None:
    if a == 0 and b == 0:
        return (
            "hypot is not differentiable at (0, 0): the local derivatives are taken as 0 "
            "(as for abs at 0 and PyTorch's vector_norm)"
        )
    return None


def _logsumexp_local(*args_out: float) -> tuple[float, ...]:
    # The softmax weights exp(a_i - max) / sum(exp(a_j - max)): each in [0, 1],
    # no overflow, and accurate far out (not exp(a_i - out), which inherits
    # out's rounding: out = 1e10 is off by 1e-6 absolute).
    *args, out = args_out
    top = max(args)
    terms = [math.exp(x - top) for x in args]
    total = math.fsum(terms)
    return tuple(t / total for t in terms)


def _asin_local(a: float, out: float) -> tuple[float]:
    return (_recip(math.sqrt(1.0 - a * a)),)


def _acos_local(a: float, out: float) -> tuple[float]:
    return (-_recip(math.sqrt(1.0 - a * a)),)


def _cosh_safe(a: float) -> float:
    try:
        return math.cosh(a)
    except OverflowError:
        return INF


def _sinh_safe(a: float) -> float:
    try:
        return math.sinh(a)
    except OverflowError:
        return math.copysign(INF, a)


def _abs_local(a: float, out: float) -> tuple[float]:
    # PyTorch: abs'(0) = sgn(0) = 0.
    return (1.0 if a > 0 else -1.0 if a < 0 else 0.0,)


def _extreme_local(*args_out: float) -> tuple[float, ...]:
    # PyTorch's amax/amin backward: ties share the gradient evenly (1/k each).
    *args, out = args_out
    winners = [1.0 if x == out else 0.0 for x in args]
    share = 1.0 / sum(winners)
    return tuple(w * share for w in winners)


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


def _where_local(c: float, t: float, f: float, out: float) -> tuple[float, float, float]:
    return (0.0, 1.0, 0.0) if c > 0 else (0.0, 0.0, 1.0)


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


# --- the table ----------------------------------------------------------------

_ROWS = [
    Gate("var", 0, _not_implemented, _leaf, _not_implemented, "input"),
    Gate("const", 0, _not_implemented, _leaf, _not_implemented, "constant"),
    # name   arity forward                      local                                        sympy
    Gate("add", 2, lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), lambda sp, a, b: a + b, "add"),
    Gate("sub", 2, lambda a, b: a - b, lambda a, b, out: (1.0, -1.0), lambda sp, a, b: a - b, "subtract"),
    Gate("mul", 2, lambda a, b: a * b, lambda a, b, out: (b, a), lambda sp, a, b: a * b, "multiply"),
    Gate("div", 2, _div, lambda a, b, out: (_recip(b), -out * _recip(b)), lambda sp, a, b: a / b,
         "divide", "a non-zero divisor"),
    Gate("neg", 1, lambda a: -a, lambda a, out: (-1.0,), lambda sp, a: -a, "*-1"),
    Gate("pos", 1, lambda a: +a, lambda a, out: (1.0,), lambda sp, a: a, "*+1"),
    Gate("pow", 2, math.pow, _pow_local, lambda sp, a, b: a**b, "power",
         "a positive base, or an integer exponent (and no 0 to a negative power)",
         kink=_pow_kink, flat=_pow_flat),
    Gate("exp", 1, math.exp, lambda a, out: (out,), lambda sp, a: sp.exp(a), "exp"),
    Gate("log", 1, math.log, lambda a, out: (_recip(a),), lambda sp, a: sp.log(a), "log",
         "a positive argument"),
    Gate("log1p", 1, math.log1p, lambda a, out: (_recip(1.0 + a),), _log1p_sympy, "log1p",
         "an argument greater than -1"),
    Gate("expm1", 1, math.expm1, lambda a, out: (_exp_safe(a),), _expm1_sympy, "expm1"),
    Gate("log2", 1, math.log2, lambda a, out: (_recip(a) * LOG2_E,), lambda sp, a: sp.log(a, 2),
         "log2", "a positive argument"),
    Gate("log10", 1, math.log10, lambda a, out: (_recip(a) * LOG10_E,),
         lambda sp, a: sp.log(a, 10), "log10", "a positive argument"),
    Gate("sqrt", 1, math.sqrt, lambda a, out: (_recip(2.0 * out),), lambda sp, a: sp.sqrt(a),
         "sqrt", "a non-negative argument"),
    Gate("sin", 1, math.sin, lambda a, out: (math.cos(a),), lambda sp, a: sp.sin(a), "sin"),
    Gate("cos", 1, math.cos, lambda a, out: (-math.sin(a),), lambda sp, a: sp.cos(a), "cos"),
    Gate("tan", 1, math.tan, lambda a, out: (1.0 + out * out,), lambda sp, a: sp.tan(a), "tan"),
    Gate("asin", 1, math.asin, _asin_local, lambda sp, a: sp.asin(a), "asin",
         "an argument between -1 and 1"),
    Gate("acos", 1, math.acos, _acos_local, lambda sp, a: sp.acos(a), "acos",
         "an argument between -1 and 1"),
    Gate("atan", 1, math.atan, lambda a, out: (1.0 / (1.0 + a * a),), lambda sp, a: sp.atan(a),
         "atan"),
    Gate("atan2", 2, math.atan2, _atan2_local, lambda sp, y, x: sp.atan2(y, x), "atan2",
         kink=_atan2_kink),
    Gate("hypot", 2, math.hypot, _hypot_local, lambda sp, a, b: sp.sqrt(a**2 + b**2), "hypot",
         kink=_hypot_kink),
    Gate("erf", 1, math.erf, lambda a, out: (_erf_slope(a),), lambda sp, a: sp.erf(a), "erf"),
    Gate("sinh", 1, math.sinh, lambda a, out: (_cosh_safe(a),), lambda sp, a: sp.sinh(a), "sinh"),
    Gate("cosh", 1, math.cosh, lambda a, out: (_sinh_safe(a),), lambda sp, a: sp.cosh(a), "cosh"),
    Gate("tanh", 1, math.tanh, lambda a, out: (tanh_slope(a),), lambda sp, a: sp.tanh(a), "tanh"),
    Gate("sigmoid", 1, _sigmoid, lambda a, out: (_sigmoid_slope(a),),
         lambda sp, a: 1 / (1 + sp.exp(-a)), "sigmoid"),
    Gate("softplus", 1, _softplus, lambda a, out: (_sigmoid(a),),
         lambda sp, a: sp.log(1 + sp.exp(a)), "softplus"),
    Gate("relu", 1, _relu, lambda a, out: (1.0 if a > 0 else 0.0,),
         lambda sp, a: sp.Max(a, 0), "relu", kink=_at_zero("relu", "the local derivative is 0"),
         flat=lambda a, out: (a <= 0,)),
    Gate("abs", 1, math.fabs, _abs_local, lambda sp, a: sp.Abs(a), "abs",
         kink=_at_zero("abs", "the local derivative is 0")),
    Gate("max", -1, max, _extreme_local, _max_sympy, "max", kink=_tie, flat=_losers),
    Gate("min", -1, min, _extreme_local, _min_sympy, "min", kink=_tie, flat=_losers),
    Gate("logsumexp", -1, _logsumexp, _logsumexp_local, _logsumexp_sympy, "logsumexp"),
    # The gates that derivative programs are written with (backprop grad): the
    # slopes of tanh and sigmoid computed from the input (accurate far out), where
    # and sign.
    Gate("dtanh", 1, tanh_slope, lambda a, out: (-2.0 * math.tanh(a) * out,),
         lambda sp, a: 4 / (sp.exp(a) + sp.exp(-a)) ** 2, "dtanh"),
    Gate("dsigmoid", 1, _sigmoid_slope, lambda a, out: (out * (1.0 - 2.0 * _sigmoid(a)),),
         lambda sp, a: sp.exp(-a) / (1 + sp.exp(-a)) ** 2, "dsigmoid"),
    Gate("where", 3, _where, _where_local, _where_sympy, "where", kink=_where_kink, flat=_where_flat),
    Gate("sign", 1, _sign, lambda a, out: (0.0,), lambda sp, a: sp.sign(a), "sign",
         kink=_at_zero("sign", "the local derivative is 0"), flat=lambda a, out: (True,)),
]  # fmt: skip

GATES: dict[str, Gate] = {gate.name: gate for gate in _ROWS}
