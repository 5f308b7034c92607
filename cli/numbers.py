"""`number`: how every command writes a float (eval's table, explain, graph).

One rule, so that the same number at the same precision reads the same
everywhere:

- Without a precision, every digit: `repr`, the shortest text that reads
  back as the same float (`2.0`, `-0.19661193324148188`).
- With a precision of N significant digits, a number that has at most N
  significant digits is written exactly, without padding (`2`, `-3`,
  `0.5`, `1e+22`); any other number is rounded to N significant digits and
  keeps its trailing zeros (`0.4200`), so the reader sees how many digits
  are shown and that the number was rounded.
- `nan`, `inf` and `-inf` as words.

The rounding is Python's correctly rounded `format` of the float itself.
A number worked in N digits (`--digits`, an mpmath number) is written the same
way, from its own digits: in full, N significant digits; else rounded.
"""

from __future__ import annotations

INF = float("inf")


def finite(x: float | None) -> float | None:
    """The number for strict JSON: None where it is infinite or undefined (JSON's null)."""
    return x if x is not None and x - x == 0 else None


def number(x: float, precision: int | None = None, digits: int | None = None) -> str:
    """`x` in full (repr), or to `precision` significant digits by the rule above.

    `digits`: the numbers were worked in that many digits; "in full" is that many.
    """
    if digits is not None and not isinstance(x, (float, int)):
        return _decimal(x, precision or digits)
    if x != x:
        return "nan"
    if x in (INF, -INF):
        return "inf" if x > 0 else "-inf"
    full = repr(x)
    if precision is None:
        return full
    mantissa, _, exponent = full.partition("e")
    if len(mantissa.lstrip("-").replace(".", "").strip("0")) <= precision:
        # Exact in at most `precision` digits: as written, and `2.0` reads `2`.
        if not exponent and mantissa.endswith(".0"):
            return mantissa[:-2]
        return full
    rounded = f"{x:#.{precision}g}"
    # The '#' flag keeps trailing zeros but also a bare point at 1 digit: `2.` → `2`.
    mantissa, e, exponent = rounded.partition("e")
    return mantissa.removesuffix(".") + e + exponent


def _decimal(x: object, digits: int) -> str:
    """An mpmath number in `digits` significant digits, trailing zeros dropped."""
    import mpmath

    if mpmath.isnan(x):
        return "nan"
    if mpmath.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(mpmath.nstr(x, digits, min_fixed=-4, max_fixed=16))
