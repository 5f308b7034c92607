"""One number formatter for every command: the same float at the same precision
reads the same in `eval`'s table, `explain` and `graph`.

The expected strings are written by hand from the rule in README "Numbers":
every digit (repr) without --precision; with --precision N, a number of at
most N significant digits exactly as it is, any other rounded to N digits
with its trailing zeros kept.
"""

from __future__ import annotations

import math

import pytest
from backprop.cli.numbers import number
from clirun import run


@pytest.mark.parametrize(
    ("x", "precision", "shown"),
    [
        (-0.19661193324148188, None, "-0.19661193324148188"),  # every digit
        (2.0, None, "2.0"),  # repr, as JSON writes it
        (-0.19661193324148188, 4, "-0.1966"),
        (-0.19661193324148188, 2, "-0.20"),  # the seed's -0.2, with its 2 digits shown
        (0.42000000999, 4, "0.4200"),  # rounded: the zeros say 4 digits are shown
        (0.42, 4, "0.42"),  # exact in 2 digits: no padding
        (0.5, 4, "0.5"),
        (2.0, 4, "2"),  # integral and exact: short
        (-3.0, 1, "-3"),
        (1200.0, 2, "1200"),  # two significant digits, exact
        (123456.0, 4, "1.235e+05"),  # integral, but 6 digits: rounded like any other
        (2.5, 1, "2"),  # not "2." (the '#' format's bare point); ties to even
        (0.25, 1, "0.2"),  # 0.25 is exact in binary: ties to even
        (9.96, 2, "10"),  # rounds up a decade: the 2 digits are "10", no bare point
        (1.5e-07, 4, "1.5e-07"),
        (1.23456789e-07, 4, "1.235e-07"),
        (1e22, 3, "1e+22"),
        (0.0, 4, "0"),
        (-0.0, 4, "-0"),  # the sign of zero is kept, as repr keeps it
        (math.inf, 4, "inf"),
        (-math.inf, None, "-inf"),
        (math.nan, 4, "nan"),
        (0.1 + 0.2, 17, "0.30000000000000004"),  # 17 digits: repr again
        (0.1 + 0.2, 16, "0.3000000000000000"),
    ],
)
def test_number_rule(x: float, precision: int | None, shown: str) -> None:
    assert number(x, precision) == shown


@pytest.mark.parametrize("precision", range(1, 18))
def test_rounded_numbers_read_back_as_the_correct_rounding(precision: int) -> None:
    for x in (-0.19661193324148188, 0.36787944117144233, 123456.789, 6.02214076e23, 9.5e-300):
        shown = number(x, precision)
        digits = len(shown.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))
        assert digits <= precision
        # Whatever the length shown, it is x rounded to that many digits.
        assert float(shown) == float(f"{x:.{max(digits, 1)}g}")


PROGRAM = "y = x * 3"
POINT = "x=0.14000000333"  # y = 0.42000000999: at 4 digits 0.4200, where :.4g wrote 0.42


@pytest.mark.parametrize(
    ("precision", "x_shown", "y_shown"),
    [
        ("4", "0.1400", "0.4200"),
        ("2", "0.14", "0.42"),
        ("17", "0.14000000333", "0.42000000999000003"),
    ],
)
def test_eval_explain_and_graph_write_a_number_alike(
    precision: str, x_shown: str, y_shown: str
) -> None:
    table = run("eval", PROGRAM, "--at", POINT, "--precision", precision).stdout
    walk = run("explain", PROGRAM, "--at", POINT, "--precision", precision).stdout
    tree = run("graph", PROGRAM, "--at", POINT, "--precision", precision).stdout
    dot = run("graph", PROGRAM, "--at", POINT, "--precision", precision, "--format", "dot").stdout
    mermaid = run(
        "graph", PROGRAM, "--at", POINT, "--precision", precision, "--format", "mermaid"
    ).stdout
    value_row = table.splitlines()[3].split()  # id gate expression... inputs value grad
    assert value_row[-4] == y_shown
    assert f"output  {y_shown}" in table
    assert table.splitlines()[1].split()[3] == x_shown
    assert f"x = {x_shown}" in walk
    assert f"output [2] = {y_shown}" in walk
    assert f"value {y_shown}" in tree and f"value {x_shown}" in tree
    assert f"\\nvalue {y_shown}\\n" in dot
    assert f"<br>value {y_shown}<br>" in mermaid
