"""Verdicts a script can rely on: never ok over a wrong number, the same every time.

inaccurate: the engine did what float64 does (the gate-by-gate check agrees)
but SymPy's exact gradient differs, or the gradient overflowed while the
exact one is finite. check.status is the worst verdict; check.counts and
check.methods say how many; the exit code is decided by the CLI, with
--strict for CI. Expected numbers come from SymPy or mpmath here, at high
precision, never from the code under test.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import mpmath
import pytest
import sympy
from backprop.cli.main import check_exit_code
from backprop.engine import evaluate
from backprop.engine.check import (
    EXPRESSION_LIMIT,
    LOCAL_NODES_PER_SECOND,
    NodeCheck,
    _summarise,
)
from backprop.engine.point import parse_at
from backprop.parser import ParseError, parse
from clirun import run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from generate import program as generated_program  # noqa: E402

CANCELLATION = "(1-cos(x))/x^2"


def exact_cancellation_slope(x: float) -> float:
    """d/dx (1 - cos x)/x**2 at the float x, by SymPy in 50 digits."""
    t = sympy.Symbol("t")
    derivative = sympy.diff((1 - sympy.cos(t)) / t**2, t)
    return float(derivative.subs(t, sympy.Rational(x)).evalf(50))


def big(body: str) -> str:
    """`body`, then a chain that adds x and takes it away again, over the adjoint limit."""
    return f"h = {body}\n" + "h = h + x - x\n" * (EXPRESSION_LIMIT // 2 + 1) + "h"


# --- inaccurate: float64 lost the gradient -------------------------------------------


def test_cancellation_is_inaccurate_with_the_exact_value_and_relative_error() -> None:
    exact = exact_cancellation_slope(1e-5)
    assert math.isclose(exact, -1e-5 / 12, rel_tol=1e-6)  # the series: -x/12 + ...
    result = evaluate(CANCELLATION, {"x": 1e-5})
    x = result.nodes[0]
    ours = result.gradients["x"]
    assert abs(ours - exact) > 1000 * abs(exact)  # the float answer is far off
    assert (x.verdict, x.check) == ("inaccurate", "adjoint")
    assert x.sympy_grad is not None and math.isclose(x.sympy_grad, exact, rel_tol=1e-15)
    error = abs(ours - exact) / abs(exact)
    assert x.reason == (
        f"float64 rounding loses this gradient: exact value {x.sympy_grad!r}, "
        f"relative error {error:.2g}"
    )
    assert result.check.status == "inaccurate"
    assert result.check.counts["inaccurate"] >= 1
    assert check_exit_code(result.check.status) == 1


def test_cancellation_on_the_command_line_exits_1_and_says_so() -> None:
    done = run("eval", CANCELLATION, "--at", "x=1e-5", expect=1)
    assert "check   sympy: inaccurate;" in done.stdout
    assert "node 0 (x): float64 rounding loses this gradient: exact value -8.33333333327" in (
        done.stdout
    )
    doc = json.loads(run("eval", CANCELLATION, "--at", "x=1e-5", "--json", expect=1).stdout)
    assert doc["check"]["status"] == "inaccurate"
    assert doc["nodes"][0]["verdict"] == "inaccurate"
    counts = doc["check"]["counts"]
    assert sum(counts.values()) == sum(1 for n in doc["nodes"] if "verdict" in n)
    assert doc["check"]["methods"] == {"adjoint": 5, "local": 0}


def test_an_overflowing_gradient_is_inaccurate_not_ok() -> None:
    # d/dx 1/x = -1/x**2 = -1e400 at x = 1e-200: finite, but past float64.
    exact = -1 / mpmath.mpf(1e-200) ** 2
    assert mpmath.isfinite(exact) and abs(exact) > sys.float_info.max
    result = evaluate("1/x", {"x": 1e-200})
    x = result.nodes[0]
    assert x.grad == -math.inf
    assert x.verdict == "inaccurate"
    assert "overflows float64" in x.reason
    # The exact number, in 17 digits (worked at 40 digits: 53 bits would show
    # -1.0000000000000001e+400, the rounding of the working precision).
    shown = x.reason.rsplit(" ", 1)[-1]
    with mpmath.workdps(40):
        exact40 = -1 / mpmath.mpf(1e-200) ** 2
        assert abs(mpmath.mpf(shown) - exact40) <= abs(exact40) * mpmath.mpf(10) ** -16
    assert "gradient is -inf" in x.notes
    assert result.check.status == "inaccurate"


def test_a_gradient_that_overflows_on_the_way_back_is_inaccurate() -> None:
    # d out/d(x*1e-300) is 1e300*1e300 = 1e600 (overflows to inf), and then
    # d out/dx = 1e600 * 1e-300 = 1e300: finite, but inf*1e-300 is still inf.
    result = evaluate("x*1e-300*1e300*1e300", {"x": 1.0})
    x = result.nodes[0]
    assert x.grad == math.inf
    exact = sympy.Rational(1e-300) * sympy.Rational(1e300) ** 2  # the floats' exact values
    assert x.sympy_grad == float(exact)  # within the float range
    assert x.verdict == "inaccurate" and "overflows float64" in x.reason
    assert result.check.status == "inaccurate"


def test_an_overflow_seen_only_gate_by_gate_is_inaccurate_too() -> None:
    result = evaluate(big("1/x"), {"x": 1e-200})
    x = result.nodes[0]
    assert (x.verdict, x.check) == ("inaccurate", "local")
    assert "overflows float64" in x.reason and "-1.0e+400" in x.reason


def test_a_truly_infinite_gradient_stays_as_it_was() -> None:
    # d/dx sqrt(x) = 1/(2 sqrt x): infinite at 0, exactly; not a float failure.
    result = evaluate("sqrt(x)", {"x": 0.0})
    assert result.gradients["x"] == math.inf
    assert result.nodes[0].verdict in ("ok", "n/a")
    assert check_exit_code(result.check.status) == 0


def test_without_an_exact_value_rounding_stays_n_a_with_its_reason() -> None:
    # Over the adjoint limit only the gate-by-gate check runs: it cannot know the
    # exact gradient, only that rounding may explain the difference.
    result = evaluate(big(CANCELLATION), {"x": 1e-5})
    x = result.nodes[0]
    assert (x.verdict, x.check) == ("n/a", "local")
    assert "ill-conditioned" in x.reason and "no exact value" in x.reason
    assert check_exit_code(result.check.status) == 0
    assert check_exit_code(result.check.status, strict=True) == 1


# --- the status: the worst verdict; counts as data ----------------------------------


def outcome_of(*verdicts: str) -> str:
    return _summarise(tuple(NodeCheck(0.0, v) for v in verdicts), "all nodes").status


@pytest.mark.parametrize(
    ("verdicts", "status"),
    [
        (("ok", "n/a", "not checked", "inaccurate", "mismatch"), "mismatch"),
        (("ok", "n/a", "not checked", "inaccurate"), "inaccurate"),
        (("ok", "n/a", "not checked"), "partial"),
        (("not checked",), "not checked"),
        (("ok", "n/a"), "n/a"),
        (("ok",), "ok"),
        ((), "ok"),
    ],
)
def test_the_status_is_the_worst_verdict(verdicts: tuple[str, ...], status: str) -> None:
    assert outcome_of(*verdicts) == status


def test_counts_list_every_verdict_and_method() -> None:
    checks = (NodeCheck(1.0, "ok", "", "adjoint"), NodeCheck(1.0, "ok", "", "local"), None)
    outcome = _summarise(checks + (NodeCheck(None, "not checked", "out of time"),), "all nodes")
    assert outcome.counts == {"ok": 2, "mismatch": 0, "inaccurate": 0, "n/a": 0, "not checked": 1}
    assert outcome.methods == {"adjoint": 1, "local": 1}


@pytest.mark.parametrize(
    ("status", "plain", "strict"),
    [
        ("ok", 0, 0),
        ("n/a", 0, 1),
        ("partial", 0, 1),
        ("not checked", 0, 1),
        ("skipped", 0, 1),
        ("inaccurate", 1, 1),
        ("mismatch", 1, 1),
    ],
)
def test_exit_codes(status: str, plain: int, strict: int) -> None:
    assert (check_exit_code(status), check_exit_code(status, strict=True)) == (plain, strict)


def test_strict_on_the_command_line() -> None:
    run("eval", "x*y", "--at", "x=1,y=2", "--strict")  # all ok: exit 0
    run("eval", "relu(x)", "--at", "x=0", "--strict", expect=1)  # a kink: n/a
    done = run("eval", "x*y", "--at", "x=1,y=2", "--strict", "--check-seconds", "1e-6", expect=1)
    assert "not checked" in done.stdout
    done = run("eval", "x", "--at", "x=1", "--strict", "--no-check", expect=2)
    assert "--strict" in done.stderr and "--no-check" in done.stderr


# --- numbers that underflow ------------------------------------------------------------


def test_an_at_value_that_underflows_is_refused_by_name() -> None:
    done = run("eval", "x", "--at", "x=1e-400", expect=2)
    assert done.stderr.startswith("error: --at value for x: number 1e-400 is too small")
    run("eval", "x", "--at", "x=-2e-324", expect=2)  # rounds to -0.0


def test_subnormal_and_zero_at_values_are_kept() -> None:
    assert parse_at(["x=1e-310,y=0e-400,z=0.000e5,w=3e-324"]) == [
        ("x", 1e-310),
        ("y", 0.0),
        ("z", 0.0),
        ("w", 5e-324),
    ]
    assert float("1e-310") != 0.0 and float("1e-310") < sys.float_info.min  # a subnormal


def test_a_literal_that_underflows_is_refused() -> None:
    with pytest.raises(ParseError, match="number 1e-400 is too small: it underflows to 0"):
        parse("x*1e-400")
    parse("x*1e-310 + 0e-999")  # a subnormal and a true zero are fine


# --- the check covers the inputs first, the same way every time ---------------------


def test_a_generated_program_checks_every_input_and_twice_the_same() -> None:
    text = generated_program(terms=600, inputs=51)
    point = dict(parse_at([text.splitlines()[0].removeprefix("# at:")]))
    first = evaluate(text, point)
    second = evaluate(text, point)
    inputs = [n for n in first.nodes if n.op == "var"]
    assert len(inputs) == 51
    assert all(n.verdict not in (None, "not checked") for n in inputs)
    assert [n.verdict for n in first.nodes] == [n.verdict for n in second.nodes]
    assert first.check == second.check


def test_a_graph_over_the_work_budget_is_not_checked_at_all_whatever_the_machine() -> None:
    # 0.01 s buys LOCAL_NODES_PER_SECOND / 100 nodes of the gate-by-gate check:
    # a larger graph is left alone, rather than checked near its output only.
    names = [f"x{i}" for i in range(LOCAL_NODES_PER_SECOND // 100 + 10)]
    result = evaluate(" + ".join(names), dict.fromkeys(names, 1.0), check_seconds=0.01)
    assert result.check.status == "not checked"
    assert {n.verdict for n in result.nodes if n.grad is not None} == {"not checked"}
    assert check_exit_code(result.check.status) == 0
    assert check_exit_code(result.check.status, strict=True) == 1
