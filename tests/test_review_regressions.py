"""Regressions found in review, each against an independent reference.

The expected values come from mpmath or from the mathematics written out by
hand, not from the engine.
"""

from __future__ import annotations

import math

import mpmath
import pytest
from backprop.engine import evaluate


@pytest.mark.parametrize(
    ("program", "x"),
    [
        ("x**-1", 1e-200),  # d/dx = -x**-2 = -1e400
        ("x**-1", -1e-200),  # -1e400 as well: x**-2 is positive
        ("x**-3", -1e-100),  # -3 * x**-4 = -3e400
        ("x**-2", -1e-150),  # -2 * x**-3 = +2e450
    ],
)
def test_pow_slope_that_overflows_keeps_its_sign(program: str, x: float) -> None:
    exponent = int(program.split("**")[1])
    exact = exponent * mpmath.mpf(x) ** (exponent - 1)  # far beyond a float's range
    expected = math.copysign(math.inf, float(mpmath.sign(exact)))
    result = evaluate(program, {"x": x}, check=False)
    assert result.gradients["x"] == expected
    word = "+inf" if expected > 0 else "-inf"
    assert f"gradient is {word}" in result.nodes[0].notes
