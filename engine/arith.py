"""The gate rules' arithmetic on Python floats (`L` of the vjp rules, for the passes).

`floats()` gives one attribute per gate (`L.exp(a)` is the gate's forward);
with `safe`, inf and nan where Python raises. Kept apart from derive.py (the
reverse-mode transform) so that a plain `eval` does not import the transform.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop.engine.gates import Gate

INF = math.inf
NAN = math.nan

# --- IEEE arithmetic for derivatives ---------------------------------------------
#
# A forward value outside a gate's domain is an error, but a derivative may be
# infinite or undefined while every value is finite (sqrt's slope at 0): the
# derivative's arithmetic gives inf and nan where Python's raises.


def _ieee_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (ValueError, ZeroDivisionError):
        if a == 0 and b < 0:
            odd = b == int(b) and int(b) % 2 == 1
            return -INF if odd and math.copysign(1.0, a) < 0 else INF
        return NAN  # a negative base to a fractional power
    except OverflowError:
        odd = b == int(b) and int(b) % 2 == 1
        return -INF if a < 0 and odd else INF


def _ieee_div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


_AT_ZERO = {"log": -INF, "log2": -INF, "log10": -INF}


def ieee(op: str, forward: Callable[..., float], *args: float) -> float:
    """`forward(*args)` with inf and nan where Python raises (a derivative's arithmetic)."""
    if op == "div":
        return _ieee_div(args[0], args[1])
    if op == "pow":
        return _ieee_pow(args[0], args[1])
    try:
        return forward(*args)
    except OverflowError:
        if op in ("sinh", "expm1"):
            return math.copysign(INF, args[0])
        return INF
    except (ValueError, ZeroDivisionError):
        if op in _AT_ZERO and args[0] == 0:
            return _AT_ZERO[op]
        if op == "log1p" and args[0] == -1:
            return -INF
        return NAN


class Arithmetic:
    """The rules' arithmetic on Python floats: one attribute per gate (`L.exp(a)`).

    `safe` gives inf and nan where Python raises (a derivative may be infinite
    while every value is finite); the backward pass runs the plain forwards and
    falls back to the safe ones only for a rule that raised, so both give the
    same floats wherever the plain ones do not raise.
    """

    def __init__(self, gates: Mapping[str, Gate], safe: bool) -> None:
        for name, gate in gates.items():
            if gate.arity != 0:
                forward = gate.forward
                setattr(self, name, functools.partial(ieee, name, forward) if safe else forward)


def floats(gates: Mapping[str, Gate] | None = None, safe: bool = True) -> Any:
    """The float arithmetic of a gate table (the default table's is made once)."""
    from backprop.engine.gates import GATES

    if gates is None or gates is GATES:
        # Made again if a row of the table was replaced in place since.
        rows = tuple(GATES.values())
        made = _DEFAULT.get(safe)
        if made is None or made[0] != rows:
            made = _DEFAULT[safe] = (rows, Arithmetic(GATES, safe))
        return made[1]
    return Arithmetic(gates, safe)


_DEFAULT: dict[bool, tuple[tuple[Gate, ...], Arithmetic]] = {}
