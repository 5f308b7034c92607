"""The passes' generated loops (engine/compiled.py) against the gate table itself.

The loops are the rules traced into Python statements; here every node is
also run through the table's own functions, one call per gate (the way the
passes ran before the loops were generated), and the two must agree bit for
bit: values, gradients, and which nodes received nothing.
"""

from __future__ import annotations

import math
import struct
from dataclasses import replace

import pytest
from backprop.engine import compiled, evaluate, passes
from backprop.engine.arith import floats
from backprop.engine.build import build_graph
from backprop.engine.gates import GATES
from backprop.engine.passes import backward, depends_on_inputs, forward, live_nodes
from backprop.parser import parse
from hypothesis import HealthCheck, given, settings
from hypothesis_profiles import examples
from strategies import GenProgram, programs


@pytest.fixture(autouse=True)
def generated_loops_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The passes generate loops from GENERATED nodes on; here every graph is run by them.
    monkeypatch.setattr(passes, "GENERATED", 0)


def bits(x: float | None) -> object:
    return None if x is None else struct.pack("<d", x)


def by_the_table(graph, point):  # type: ignore[no-untyped-def]
    """Forward and backward, each gate through the table's forward and vjp."""
    fast, safe = floats(GATES, safe=False), floats(GATES, safe=True)
    values: list[float] = []
    for node in graph.nodes:
        if node.op == "var":
            values.append(point[node.label])
        elif node.op == "const":
            values.append(node.value)
        else:
            values.append(GATES[node.op].forward(*[values[j] for j in node.inputs]))
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    grads: list[float | None] = [None] * len(graph.nodes)
    grads[graph.output] = 1.0
    for i in range(graph.output, -1, -1):
        node = graph.nodes[i]
        g = grads[i]
        if not node.inputs or not live[i] or g is None:
            continue
        args = [values[j] for j in node.inputs]
        rule = GATES[node.op].vjp
        try:
            sent = rule(fast, g, *args, values[i])
        except (ArithmeticError, ValueError):
            sent = rule(safe, g, *args, values[i])
        for j, c in zip(node.inputs, sent):
            if c is not None:
                grads[j] = c if grads[j] is None else grads[j] + c
    final = [(0.0 if g is None else g) if d else None for g, d in zip(grads, depends)]
    return values, final


PROGRAMS = [
    ("(x+y)*z", {"x": -2.0, "y": 5.0, "z": -4.0}),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}),
    ("h = x; h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1); h*h", {"x": 0.3}),
    ("sqrt(relu(x))", {"x": -1.0}),  # flat under an infinite gradient: nothing flows
    ("sqrt(x)", {"x": 0.0}),  # an infinite slope: the rule raises, IEEE arithmetic takes over
    ("x^y + y^x", {"x": 0.0, "y": 2.0}),
    ("atan2(y, x) + hypot(x, y)", {"x": 0.0, "y": 0.0}),
    ("max(x, y, x) + min(x, y) + logsumexp(x, y, 3)", {"x": 1.0, "y": 1.0}),
    ("abs(x) + sign(x) + where(x, y, -y)", {"x": 0.0, "y": 2.0}),
    ("a = x - y; b = a / (x*y); c = -b + +a; c*c*c - log1p(x) + expm1(y)", {"x": 0.5, "y": 3.0}),
]


@pytest.mark.parametrize(("source", "point"), PROGRAMS, ids=[p[0][:30] for p in PROGRAMS])
def test_the_loops_compute_what_the_table_computes(source: str, point: dict) -> None:
    graph = build_graph(parse(source))
    values, grads = by_the_table(graph, point)
    got = forward(graph, point)
    assert [bits(v) for v in got] == [bits(v) for v in values]
    assert [bits(g) for g in backward(graph, got)] == [bits(g) for g in grads]


@given(programs())
@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_loops_agree_with_the_table_on_random_programs(program: GenProgram) -> None:
    graph = build_graph(parse(program.source))
    values, grads = by_the_table(graph, program.point)
    got = forward(graph, program.point)
    assert [bits(v) for v in got] == [bits(v) for v in values]
    assert [bits(g) for g in backward(graph, got)] == [bits(g) for g in grads]
    # The trace path (explain's) goes through the table too: the same gradients.
    assert [bits(g) for g in backward(graph, got, trace=[])] == [bits(g) for g in grads]


def test_a_rule_changed_in_the_table_is_the_rule_the_loops_run() -> None:
    # A deliberately wrong mul (d/da = 2*g*b) and a wrong tanh forward: a loop
    # generated for the default table would still give the right numbers.
    gates = dict(GATES)
    gates["mul"] = replace(GATES["mul"], vjp=lambda L, g, a, b, out: (2.0 * g * b, g * a))
    gates["tanh"] = replace(GATES["tanh"], forward=lambda a: a)
    result = evaluate("tanh(x)*y", {"x": 0.5, "y": 3.0}, gates=gates, check=False)
    assert result.value == 1.5
    # d/dx: the wrong mul sends 2 * 1 * y = 6; tanh's slope is still tanh's.
    assert math.isclose(result.gradients["x"], 6.0 * (1 - math.tanh(0.5) ** 2), rel_tol=1e-14)
    assert result.gradients["y"] == 0.5


def test_a_gate_the_tracer_cannot_read_is_called_through_the_table() -> None:
    # relu's forward compares (a > 0): it stays a call; its branch still exists.
    source = compiled._loop(
        [("relu", compiled._branch_forward(GATES["relu"], {}))], {"relu": 1}, "forward"
    )
    assert "_relu(va)" in source
    # mul's forward is plain arithmetic: written inline, no call.
    calls: dict = {}
    assert compiled._branch_forward(GATES["mul"], calls) == ["values[i] = (va * vb)"]
    assert calls == {}


def test_a_long_chain_uses_its_commonest_gates_branches() -> None:
    graph = build_graph(parse("h = x\n" + "h = tanh(0.9*h + 0.1)\n" * 2000 + "h"))
    assert set(compiled._commonest(graph.nodes, GATES, None)) == {"tanh", "add", "mul"}


def test_a_row_replaced_in_place_after_a_run_is_the_rule_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The loops and the float arithmetic are made once per table; a row replaced
    # in the default table afterwards must not leave the old rule running.
    evaluate("x*y + tanh(x)", {"x": 3.0, "y": 5.0}, check=False)  # the caches are warm
    monkeypatch.setitem(
        GATES, "mul", replace(GATES["mul"], vjp=lambda L, g, a, b, out: (2.0 * g * b, g * a))
    )
    monkeypatch.setitem(GATES, "dtanh", replace(GATES["dtanh"], forward=lambda a: 0.0))
    result = evaluate("x*y + tanh(x)", {"x": 3.0, "y": 5.0}, check=False)
    assert result.gradients["x"] == 10.0  # 2 * y from the wrong mul, 0 from the wrong tanh slope


def test_a_repeating_pattern_gets_a_branch_for_each_of_its_gates() -> None:
    # sum of w_i*x_i: var, var, mul, add repeating; every 4k-th node would be one gate only.
    source = " + ".join(f"w{i}*x{i}" for i in range(20_000))
    graph = build_graph(parse(source))
    assert set(compiled._commonest(graph.nodes, GATES, None)) == {"mul", "add"}


def test_a_small_graph_goes_through_the_table_and_gets_the_same_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, point = PROGRAMS[1]
    graph = build_graph(parse(source))
    by_loops = backward(graph, forward(graph, point))
    monkeypatch.setattr(passes, "GENERATED", 10**9)
    assert [bits(g) for g in backward(graph, forward(graph, point))] == [bits(g) for g in by_loops]
