"""The SymPy cross-check: a second opinion on every node's gradient.

It must agree where the engine is right, catch a gate whose derivative is
wrong, say "n/a" (not "mismatch") at PyTorch's conventions, and give up
gracefully — "not checked" with a reason, exit code 0 — when SymPy is too
slow or recurses too deep.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from pathlib import Path

import pytest
import sympy
from backprop.cli.main import check_exit_code
from backprop.engine import Result, evaluate
from backprop.engine.check import EXPRESSION_LIMIT, PER_NODE_LIMIT
from backprop.engine.gates import GATES
from backprop.engine.point import defaults

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "samples").glob("*.bp"))

PERCEPTRON = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
PERCEPTRON_AT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


def carriers(result: Result) -> list:
    """The nodes that have a gradient to check."""
    return [n for n in result.nodes if n.grad is not None]


def test_there_are_samples() -> None:
    assert len(SAMPLES) >= 6


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_samples_agree_with_sympy(path: Path) -> None:
    source = path.read_text()
    result = evaluate(source, dict(defaults(source)))
    assert result.check.status == "ok", result.check.message
    assert result.check.scope == "all nodes"
    assert check_exit_code(result.check.status) == 0
    for node in carriers(result):
        assert node.verdict == "ok", (node.id, node.text, node.verdict, node.reason)
        assert node.sympy_grad is not None
        assert math.isclose(node.grad, node.sympy_grad, rel_tol=1e-9, abs_tol=1e-12)


def test_every_node_is_checked_on_a_small_graph() -> None:
    result = evaluate(PERCEPTRON, PERCEPTRON_AT)
    assert result.check.method == "sympy"
    assert result.check.scope == "all nodes"
    assert result.check.status == "ok"
    checked = carriers(result)
    assert len(checked) == 13  # 5 inputs and 8 gates; the two constants 1 carry none
    for node in result.nodes:
        if node.grad is None:
            assert node.op == "const" and node.verdict is None
        else:
            assert node.verdict == "ok"
            assert math.isclose(node.grad, node.sympy_grad, rel_tol=1e-9)


def test_no_check_means_no_verdicts() -> None:
    result = evaluate(PERCEPTRON, PERCEPTRON_AT, check=False)
    assert (result.check.method, result.check.status) == ("none", "skipped")
    assert all(n.verdict is None and n.sympy_grad is None for n in result.nodes)


# --- catching a wrong derivative -------------------------------------------------------


def with_wrong_sin() -> dict:
    """The gate table with sin's local derivative off by a sign: +cos would be -(-cos)."""
    gates = dict(GATES)
    gates["sin"] = dataclasses.replace(GATES["sin"], vjp=lambda L, g, a, out: (g * -L.cos(a),))
    return gates


def test_a_wrong_gate_derivative_is_a_mismatch() -> None:
    result = evaluate("sin(x*y) + y", {"x": 0.3, "y": 2.0}, gates=with_wrong_sin())
    verdicts = {n.text: n.verdict for n in result.nodes if n.grad is not None}
    # Every gradient that flows back through sin is wrong; the rest are right.
    assert verdicts == {
        "x": "mismatch",
        "y": "mismatch",
        "x*y": "mismatch",
        "sin(x*y)": "ok",
        "sin(x*y) + y": "ok",
    }
    assert result.check.status == "mismatch"
    assert check_exit_code(result.check.status) == 1
    # SymPy's opinion is the true one: d/dx sin(x*y) = y*cos(x*y).
    x = result.nodes[0]
    assert x.sympy_grad is not None
    assert math.isclose(x.sympy_grad, 2.0 * math.cos(0.6), rel_tol=1e-12)


def test_a_slightly_wrong_derivative_is_caught() -> None:
    gates = dict(GATES)
    wrong = lambda L, g, a, out: (g * (out * (1 + 1e-7)),)  # noqa: E731
    gates["exp"] = dataclasses.replace(GATES["exp"], vjp=wrong)
    result = evaluate("exp(x)", {"x": 1.0}, gates=gates)
    assert result.nodes[0].verdict == "mismatch"
    assert check_exit_code(result.check.status) == 1


# --- kinks and conventions are "n/a", not failures ----------------------------------------


def test_relu_at_zero_is_not_applicable_rather_than_a_mismatch() -> None:
    # SymPy's derivative of Max(t, 0) at 0 is Heaviside(0) = 1/2; PyTorch's is 0.
    t = sympy.Symbol("t", real=True)
    assert sympy.diff(sympy.Max(t, 0), t).subs(t, 0) == sympy.Rational(1, 2)

    result = evaluate("relu(x)", {"x": 0.0})
    x = result.nodes[0]
    assert x.grad == 0.0
    assert x.verdict == "n/a"
    assert "non-differentiable" in x.reason
    # The status is the worst verdict, n/a; a kink leaves the exit code at 0, but not
    # under --strict.
    assert result.check.status == "n/a"
    assert check_exit_code(result.check.status) == 0
    assert check_exit_code(result.check.status, strict=True) == 1


@pytest.mark.parametrize(
    ("source", "at"),
    [
        ("abs(x) * 3", {"x": 0.0}),
        ("max(x, y)", {"x": 1.0, "y": 1.0}),
        ("min(x, y, z)", {"x": 2.0, "y": 2.0, "z": 2.0}),
        ("relu(w*x + b) * 2", {"w": 1.0, "x": 2.0, "b": -2.0}),
    ],
)
def test_kinks_are_not_applicable(source: str, at: dict) -> None:
    result = evaluate(source, at)
    inputs = [n for n in result.nodes if n.op == "var"]
    assert all(n.verdict == "n/a" for n in inputs)
    assert "mismatch" not in {n.verdict for n in result.nodes}
    assert check_exit_code(result.check.status) == 0


def test_zero_to_the_zero_is_a_convention_not_a_mismatch() -> None:
    # d/dy 0**y has no value at y = 0 (0**y is 1 there and 0 just above);
    # PyTorch takes 0, and the cross-check must not call that a failure.
    result = evaluate("x^y", {"x": 0.0, "y": 0.0})
    assert result.value == 1.0
    assert result.gradients == {"x": 0.0, "y": 0.0}
    assert "mismatch" not in {n.verdict for n in result.nodes}
    assert check_exit_code(result.check.status) == 0
    assert result.nodes[-1].notes  # the pow gate says which convention it used


def test_infinite_gradient_agrees_with_sympy() -> None:
    result = evaluate("sqrt(x)", {"x": 0.0})
    assert result.gradients == {"x": math.inf}
    assert result.nodes[0].verdict in ("ok", "n/a")
    assert check_exit_code(result.check.status) == 0


# --- limits: time, recursion, size ------------------------------------------------------


def tanh_chain(steps: int) -> str:
    return "h = x\n" + "h = tanh(h)\n" * steps + "h"


def test_a_chain_of_60_tanh_steps_finishes_checked_gate_by_gate() -> None:
    # The whole-program (adjoint) check is too slow for every node in a 1 s
    # budget; the linear gate-by-gate (local) check covers the rest.
    result = evaluate(tanh_chain(60), {"x": 0.5}, check_seconds=1.0)
    assert result.check.status in ("ok", "partial")
    assert check_exit_code(result.check.status) == 0
    verdicts = {n.verdict for n in carriers(result)}
    assert verdicts <= {"ok", "not checked"}
    for node in carriers(result):
        if node.check == "local":
            assert "time" in node.reason or "recursion" in node.reason
        if node.verdict == "not checked":
            assert "time" in node.reason or "recursion" in node.reason


@pytest.mark.slow
def test_sympy_recursion_error_falls_back_to_the_local_check() -> None:
    # SymPy's diff recurses about once per tanh. With 150 levels of stack
    # left, the long chains' derivatives run out: those nodes are checked
    # gate by gate instead, never an exception and never a mismatch.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 150)
    try:
        result = evaluate(tanh_chain(60), {"x": 0.5}, check_seconds=5.0)
    finally:
        sys.setrecursionlimit(limit)
    assert result.check.status == "ok"
    assert check_exit_code(result.check.status) == 0
    assert {n.verdict for n in carriers(result)} == {"ok"}
    reasons = {n.reason for n in carriers(result) if n.check == "local"}
    assert reasons == {"checked gate by gate: SymPy ran out of recursion depth"}


def test_a_tiny_budget_leaves_everything_not_checked() -> None:
    result = evaluate(PERCEPTRON, PERCEPTRON_AT, check_seconds=1e-6)
    assert result.check.status == "not checked"
    assert check_exit_code(result.check.status) == 0
    for node in carriers(result):
        assert node.verdict == "not checked"
        assert "out of time" in node.reason and "budget" in node.reason
    # The engine's own numbers are there all the same.
    assert math.isclose(result.gradients["w0"], -0.19661193324148185, rel_tol=1e-12)


def test_over_the_per_node_limit_the_adjoint_check_covers_the_inputs() -> None:
    count = PER_NODE_LIMIT // 2 + 20  # inputs and sums together: over the limit
    names = [f"x{i}" for i in range(count)]
    result = evaluate(" + ".join(names), {name: float(i) for i, name in enumerate(names)})
    assert len(carriers(result)) > PER_NODE_LIMIT
    assert result.check.scope == "all nodes"
    assert "gate by gate" in result.check.message
    assert check_exit_code(result.check.status) == 0
    for node in carriers(result):
        if node.op == "var":
            assert node.verdict == "ok" and node.sympy_grad == 1.0
            assert node.check == "adjoint"
        else:
            assert node.verdict == "ok" and node.check == "local"
            assert "only the inputs" in node.reason


def test_over_the_expression_limit_every_node_is_checked_gate_by_gate() -> None:
    # A 2,000-odd step chain of sums: SymPy is not asked for whole-program derivatives.
    source = "h = x\n" + "h = h + x\n" * EXPRESSION_LIMIT + "h"
    result = evaluate(source, {"x": 1.0})
    assert result.value == EXPRESSION_LIMIT + 1
    assert result.gradients == {"x": EXPRESSION_LIMIT + 1}
    assert result.check.status == "ok"
    assert check_exit_code(result.check.status) == 0
    assert all(n.verdict == "ok" and n.check == "local" for n in carriers(result))
    assert f"{EXPRESSION_LIMIT:,}" in result.nodes[0].reason
