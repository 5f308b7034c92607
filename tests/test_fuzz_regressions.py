"""Inputs the fuzzer (fuzz/fuzz_eval.py) found, each run through the whole path again.

`exercise` (fuzz/harness.py) evaluates a program as the CLI does, feeds the
result or the error to every renderer, and raises on anything but a clean
BackpropError, on non-strict JSON, or on a cross-check mismatch. Each case
also states the numbers that were wrong, derived by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

from backprop.cli.main import check_exit_code  # noqa: E402
from backprop.engine import Result  # noqa: E402
from clirun import run as run_cli  # noqa: E402
from harness import exercise  # noqa: E402


def run(source: str, point: dict[str, float]) -> Result:
    outcome = exercise(source, point, check_seconds=30)
    assert isinstance(outcome, Result), outcome
    return outcome


def test_zero_to_the_zero_is_a_kink_not_a_mismatch() -> None:
    # 0**t is 1 at t = 0 and 0 for t > 0: not differentiable in t there. SymPy
    # says 0**t*log(0) = zoo; PyTorch's rule gives 0. Found as `t0^nbsn`.
    result = run("t0^nbsn", {"t0": 0.0, "nbsn": 0.0})
    assert result.value == 1.0
    assert result.gradients == {"t0": 0.0, "nbsn": 0.0}
    assert [n.verdict for n in result.nodes[:2]] == ["n/a", "n/a"]
    assert any("0**0" in note for note in result.nodes[2].notes)


def test_sympy_undefined_at_a_zero_base_is_not_a_mismatch() -> None:
    # d/dx x**y = y*x**(y-1) = 1 at x=0, y=1; d/dy 0**y = 0 for y > 0 (0**y is
    # 0 there). SymPy writes y*x**y/x and x**y*log(x): nan at x = 0.
    result = run("x**y", {"x": 0.0, "y": 1.0})
    assert result.gradients == {"x": 1.0, "y": 0.0}
    # y: SymPy's nan is no opinion to compare with: n/a, the status, exit 0.
    assert result.nodes[1].verdict == "n/a"
    assert result.check.status == "n/a"


def test_huge_terms_that_cancel_in_the_backward_pass_are_inaccurate_not_a_mismatch() -> None:
    # d/dq of q*c/q is exactly 0 and d/dq of q*c is c, but with q = 1e-300 the
    # backward pass adds c/q = 1e300 and -q*c/q**2 = -1e300: float rounding
    # alone moves the sum by ~1e284, so our 0.0 is what floats give, and wrong:
    # SymPy's exact gradient is c. Found as the tail of a longer program.
    c = 1.0000000000000002
    result = run("q*c/q + q*c", {"q": 1e-300, "c": c})
    q = result.nodes[0]
    assert q.grad == 0.0
    assert q.verdict == "inaccurate" and f"exact value {c!r}, relative error 1" in q.reason
    assert q.sympy_grad == c
    assert result.check.status == "inaccurate"
    assert check_exit_code(result.check.status) == 1


@pytest.mark.parametrize("breaker", ["\x0b", "\x0c", "\x1c", "\u2028"])
def test_explain_shows_no_terminal_escape_from_a_comment(breaker: str) -> None:
    # The comment runs to the end of the line ("\n"), but explain listed the
    # program with str.splitlines(), which also breaks at a form feed or
    # U+2028: the comment's rest, escape codes included, reached the terminal.
    source = f"x*2 # note{breaker}\x1b]0;title\x07\x1b[31m red"
    done = run_cli("explain", "--at", "x=1", "--", source)
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "x*2" in done.stdout


@pytest.mark.parametrize(
    ("source", "point"),
    [
        # a larger program the fuzzer reduced to the same 0**t node
        (
            "s/q0*e1+q0*e0+q**00*e0s**se0+q0*e-0+q1*0",
            {
                "s": 0.0,
                "q0": -1.0,
                "e1": -0.5,
                "e0": -0.0,
                "q": 0.9999999999999999,
                "e0s": 0.0,
                "se0": 0.0,
                "q1": 0.0,
            },
        ),
        # the program that led to the cancellation case above (names shortened)
        (
            "\r-s--\r+-a+-b/q0*e0+q0*c/q0*e0+q0*d",
            {"s": 1 + 2**-52, "a": 1 + 2**-52, "b": 0.0, "q0": 1e-300, "e0": 1 + 2**-52}
            | {"c": 1 + 2**-52, "d": 1 + 2**-52},
        ),
    ],
)
def test_fuzzer_inputs_run_cleanly(source: str, point: dict[str, float]) -> None:
    result = run(source, point)
    assert result.check.status != "mismatch"


def test_a_value_that_underflows_is_rounding_not_a_mismatch() -> None:
    # w/abs(r - w/s*t/c/C) divides 1e-300 by 1e300: the float value is 0.0,
    # the exact one 1e-600, and the gradients that flow through it pick up
    # factors of 1e300 on the way back. SymPy, exact, gives O(1) gradients;
    # floats give 0. That is float underflow, not a wrong rule: inaccurate.
    source = "c+r-w/abs(+r-w/+s*t/+c/C)/v/abs(+r-w/+s*t/+c/C)/z"
    names = ["c", "r", "w", "s", "t", "C", "v", "z"]
    result = run(source, dict.fromkeys(names, -1e-300))
    assert result.check.status == "inaccurate"
    verdicts = {n.verdict for n in result.nodes if n.grad is not None}
    assert "mismatch" not in verdicts


BIGGEST = 1.7976931348623157e308


def test_a_gradient_that_underflows_on_the_way_back_is_rounding_not_a_mismatch() -> None:
    # d/d(x*0) of (x*0)*y*z/u/v is y*z/(u*v) = 1 exactly, but the backward
    # pass forms 1/v = 5.6e-309 and then 1/(u*v), which underflows to 0.
    big = -BIGGEST
    result = run("x*0*y*z/u/v + w", dict(x=big, y=big, z=big, u=big, v=big, w=1.0))
    assert result.check.status == "inaccurate"
    node = next(n for n in result.nodes if n.text == "x*0")
    assert (node.grad, node.verdict) == (0.0, "inaccurate")
    assert node.sympy_grad == 1.0  # y*z/(u*v), by hand


def test_an_exact_gradient_past_the_float_range_is_not_a_mismatch() -> None:
    # The fuzzer's program: the gradient of q00*0 is jj*e*O*s01/j/ek, about
    # -4.9e308 in exact arithmetic: past the largest float.
    source = "s/qas0-3200+q00*0*jj*e*\rO*s01/j0j00n1/ek"
    point = {"s": 7.737681242476859e307, "qas0": 6.859000506730609e295}
    point |= dict.fromkeys(["q00", "jj", "O", "s01", "j0j00n1", "ek"], -BIGGEST)
    result = run(source, point)
    assert result.check.status == "inaccurate"
    node = next(n for n in result.nodes if n.text == "q00*0")
    # Our 0.0 against about -4.9e308: the exact number is shown in full, past the float range.
    assert node.grad == 0.0
    assert node.verdict == "inaccurate" and "exact value -4.88663658164" in node.reason
    assert "e+308, relative error 1" in node.reason
    assert "mismatch" not in {n.verdict for n in result.nodes}
    assert check_exit_code(result.check.status) == 1
