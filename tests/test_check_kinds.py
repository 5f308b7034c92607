"""The two kinds of cross-check, and a check that never hangs and never crashes.

adjoint: SymPy's derivative of the whole program with respect to each node,
in exact arithmetic; quadratic and recursive, so it runs on small graphs,
inputs first, inside the time budget. local: each gate's value and local
derivatives by SymPy at the computed inputs, the chain rule rerun in 113-bit
arithmetic; linear, so it covers every node of graphs far too large for the
other. Each node says which one it got (`check`, "adjoint" or "local").

Expected numbers come from the tests' own arithmetic or SymPy used here.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from backprop.cli.main import check_exit_code
from backprop.engine import check as check_module
from backprop.engine import evaluate
from backprop.engine.build import build_graph
from backprop.engine.check import EXPRESSION_LIMIT, PER_NODE_LIMIT, cross_check
from backprop.engine.gates import GATES
from backprop.engine.passes import backward, forward
from backprop.parser import parse
from clirun import run


def tanh_steps(steps: int) -> str:
    return "h = x\n" + "h = tanh(a*h + b)\n" * steps + "h"


def products(count: int) -> tuple[str, dict[str, float]]:
    source = " + ".join(f"w{i}*x{i}" for i in range(count))
    point = {f"w{i}": 0.5 + i / count for i in range(count)}
    point.update({f"x{i}": 1.0 - i / count for i in range(count)})
    return source, point


def carriers(result: object) -> list:
    return [n for n in result.nodes if n.grad is not None]  # type: ignore[attr-defined]


# --- the cases SymPy cannot do in time: exit 0, every gradient still checked ------------


@pytest.mark.slow
@pytest.mark.parametrize("steps", [40, 60])
def test_a_tanh_chain_exits_0_within_the_budget(steps: int) -> None:
    at = ["--at", "x=0.5,a=0.9,b=0.1"]
    done = run("eval", "--json", "--check-seconds", "2", *at, "--", tanh_steps(steps))
    doc = json.loads(done.stdout)
    assert doc["check"]["status"] in ("ok", "partial")
    verdicts = {n.get("verdict") for n in doc["nodes"] if n["grad"] is not None}
    assert verdicts <= {"ok", "not checked"}
    kinds = {n.get("check") for n in doc["nodes"] if n.get("verdict") == "ok"}
    assert "local" in kinds  # SymPy's recursion or the budget stopped the adjoint check


def test_a_sum_of_1000_products_exits_0_checked_gate_by_gate() -> None:
    source, point = products(1_000)
    at = ",".join(f"{name}={value!r}" for name, value in point.items())
    done = run("eval", "--json", "--at", at, "--", source)
    doc = json.loads(done.stdout)
    assert doc["check"]["status"] in ("ok", "partial")
    assert doc["nodes"][-1]["check"] == "local"
    assert doc["nodes"][-1]["verdict"] == "ok"
    # d/dw_i = x_i, by hand.
    assert doc["gradients"]["w10"] == point["x10"]


@pytest.mark.slow
def test_the_table_marks_nodes_checked_gate_by_gate() -> None:
    done = run("eval", "--at", "x=0.5,a=0.9,b=0.1", "--", tanh_steps(60))
    assert "ok (local)" in done.stdout
    assert "checked gate by gate (local):" in done.stdout


def test_small_graphs_get_the_adjoint_check_on_every_node() -> None:
    result = evaluate("1/(1+exp(-(w0*x0+w1*x1+w2)))", dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3))
    assert {n.check for n in carriers(result)} == {"adjoint"}


# --- the local check catches what the adjoint check would, on graphs too large for it ---


def big(body: str) -> str:
    """`body`, then a chain that adds x and takes it away again, over the adjoint limit."""
    return f"h = {body}\n" + "h = h + x - x\n" * (EXPRESSION_LIMIT // 2 + 1) + "h"


def test_a_wrong_local_derivative_is_a_mismatch_that_names_the_gate() -> None:
    gates = dict(GATES)
    gates["sin"] = dataclasses.replace(GATES["sin"], vjp=lambda L, g, a, out: (g * -L.cos(a),))
    result = evaluate(big("sin(x*y)"), {"x": 0.3, "y": 2.0}, gates=gates)
    x = result.nodes[0]
    assert (x.verdict, x.check) == ("mismatch", "local")
    assert "local derivative of sin" in x.reason
    assert check_exit_code(result.check.status) == 1
    # SymPy's chain rule: d/dx [sin(x*y) + x - x + ...] = y*cos(x*y).
    assert x.sympy_grad is not None
    assert math.isclose(x.sympy_grad, 2.0 * math.cos(0.6), rel_tol=1e-12)


def test_a_slightly_wrong_local_derivative_is_caught() -> None:
    gates = dict(GATES)
    wrong = lambda L, g, a, out: (g * (out * (1 + 1e-7)),)  # noqa: E731
    gates["exp"] = dataclasses.replace(GATES["exp"], vjp=wrong)
    result = evaluate(big("exp(x)"), {"x": 1.0}, gates=gates)
    assert result.nodes[0].verdict == "mismatch"
    assert check_exit_code(result.check.status) == 1


def test_a_wrong_forward_value_is_a_mismatch() -> None:
    gates = dict(GATES)
    gates["tanh"] = dataclasses.replace(GATES["tanh"], forward=lambda a: math.tanh(a) * 1.001)
    result = evaluate(big("tanh(x)"), {"x": 0.5}, gates=gates)
    assert check_exit_code(result.check.status) == 1
    wrong = [n for n in result.nodes if n.op == "tanh"][0]
    assert wrong.verdict == "mismatch"
    assert "value of tanh" in wrong.reason


def test_a_wrong_backward_pass_is_caught_by_the_local_check() -> None:
    # Drop one fan-out contribution from the gradients handed to the check.
    graph = build_graph(parse(big("x*x")))
    values = forward(graph, {"x": 1.5})
    grads = backward(graph, values)
    assert grads[0] is not None
    grads[0] -= 1.5  # d/dx x*x is 2x: as if one use of x were forgotten
    outcome = cross_check(graph, values, grads, [False] * len(grads), seconds=60)
    first = outcome.nodes[0]
    assert first is not None and first.verdict == "mismatch" and first.kind == "local"
    assert outcome.status == "mismatch"


def test_over_the_per_node_limit_inputs_get_the_adjoint_check() -> None:
    source, point = products(PER_NODE_LIMIT // 3)
    result = evaluate(source, point, check_seconds=60)
    assert len(carriers(result)) > PER_NODE_LIMIT
    for node in carriers(result):
        assert node.verdict == "ok"
        assert node.check == ("adjoint" if node.op == "var" else "local")


# --- rounding: inaccurate (float64 lost the number), not a mismatch (a wrong rule) ------


def test_rounding_in_the_forward_values_is_inaccurate_not_a_mismatch() -> None:
    # In floats (0.3 + 1e16) - 1e16 is 0; in exact arithmetic it is 0.3. The
    # gradient of y is then tanh(0) = 0 for us and tanh(0.3) for SymPy: the
    # gate-by-gate check agrees (the engine did what floats do), the number is wrong.
    result = evaluate("tanh((x + 1e16) - 1e16)*y", {"x": 0.3, "y": 2.0})
    y = result.nodes[1]
    assert y.grad == 0.0
    assert (y.verdict, y.check) == ("inaccurate", "adjoint")
    assert y.sympy_grad is not None
    assert math.isclose(y.sympy_grad, math.tanh(0.3), rel_tol=1e-12)
    assert f"exact value {math.tanh(0.3)!r}" in y.reason
    assert "relative error 1" in y.reason  # |0 - tanh(0.3)| / tanh(0.3)
    assert result.check.status == "inaccurate"
    assert check_exit_code(result.check.status) == 1


def test_cancellation_between_huge_terms_is_not_a_mismatch() -> None:
    # d/dq (q*c/q + q*c) = c exactly, but the backward pass adds terms of
    # size 1e300 that cancel: float rounding alone can move the sum by ~1e284.
    result = evaluate(big("q*c/q + q*c"), {"q": 1e-300, "c": 1.0000000000000002, "x": 1.0})
    q = result.nodes[0]
    # Gate by gate only (over the adjoint limit): no exact value to call it
    # inaccurate, so either the sum came out right or rounding may explain it.
    assert q.verdict in ("ok", "n/a")
    assert q.check == "local"
    assert result.check.status in ("ok", "n/a")
    assert check_exit_code(result.check.status) == 0


def test_a_kink_is_not_applicable_under_the_local_check_too() -> None:
    result = evaluate(big("relu(x - 1)"), {"x": 1.0})
    x = result.nodes[0]
    assert x.verdict == "n/a"
    assert check_exit_code(result.check.status) == 0


def test_a_failure_inside_the_check_costs_only_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check is a second opinion: a bug in it leaves the engine's numbers
    # standing, with every node "not checked" and a reason asking for a report.
    def broken(*args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(check_module, "_local_pass", broken)
    result = evaluate("x*y", {"x": 3.0, "y": 2.0})
    assert result.gradients == {"x": 2.0, "y": 3.0}
    assert result.check.status == "not checked"
    assert check_exit_code(result.check.status) == 0
    assert all("internal error in the cross-check" in n.reason for n in carriers(result))
