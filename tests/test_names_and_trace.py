"""Names the user wrote, and explain/graph reading the backward pass's own trace.

Issue 9 section 6: an assignment names its node everywhere; explain calls a
gate's inputs by their own names, never by placeholder letters. Issue 10
defect 1: at a flat gate explain said `0 * inf = nan` where eval said 0.
The expected numbers are worked out by hand (PyTorch's rules: nothing flows
back through a flat gate, relu'(0) = abs'(0) = 0, a tie splits evenly).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
from backprop.cli.explain import explain_lines, render_plain
from backprop.cli.graph import render_dot, render_mermaid
from backprop.engine import draw, evaluate
from backprop.engine.build import build_graph
from backprop.engine.explain import explain
from backprop.engine.passes import backward, forward
from backprop.parser import parse

from tests.clirun import run

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schema" / "eval.schema.json").read_text(encoding="utf-8"))


def same(a: float | None, b: float | None) -> bool:
    """Equal bit for bit (nan equals nan, 0.0 is not -0.0)."""
    if a is None or b is None:
        return a is b
    return math.copysign(1.0, a) == math.copysign(1.0, b) and (a == b or a != a and b != b)


# (program, point, {input: d out/d input by hand})
CASES = [
    # flat gates under an infinite gradient: nothing flows back (not inf * 0 = nan)
    ("sqrt(relu(x))", {"x": -1.0}, {"x": 0.0}),
    ("sqrt(x**0 - 1)", {"x": 2.0}, {"x": 0.0}),  # x**0 is flat in x; sqrt'(0) = inf
    ("sqrt(max(x, 1) - 1)", {"x": 0.5}, {"x": 0.0}),  # x loses the max
    # kinks: PyTorch's conventions
    ("relu(x)", {"x": 0.0}, {"x": 0.0}),
    ("abs(x)", {"x": 0.0}, {"x": 0.0}),
    ("max(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 0.5}),
    # a fan-out: 2x + 1 at 3
    ("x*x + x", {"x": 3.0}, {"x": 7.0}),
]


@pytest.mark.parametrize(("program", "at", "expected"), CASES, ids=[c[0] for c in CASES])
def test_explain_and_graph_say_the_backward_passs_numbers(
    program: str, at: dict[str, float], expected: dict[str, float]
) -> None:
    result = evaluate(program, at, check=False)
    assert result.gradients == expected
    doc = explain(result)
    # Each gate's upstream is the backward pass's gradient of that gate.
    for step in doc.backward:
        assert same(step.upstream, result.nodes[step.id].grad), step
    # What each node receives adds up, in the backward pass's order, to its gradient.
    received: dict[int, float] = {}
    for step in doc.backward:
        for send in step.sends:
            received[send.to] = received.get(send.to, 0.0) + send.grad
    for j, total in received.items():
        assert same(total, result.nodes[j].grad), (j, total)
    for entry in doc.inputs:
        assert same(entry.grad, expected[entry.name])
    # graph's edge labels are the same sends.
    drawing = draw.from_explanation(result, doc)
    along: dict[int, float] = {}
    for edge in sorted(drawing.edges, key=lambda e: -e.target):  # the backward pass's order
        if edge.grad is not None:
            along[edge.source] = along.get(edge.source, 0.0) + edge.grad
    for j, total in along.items():
        assert same(total, result.nodes[j].grad), (j, total)
    for text in (render_plain(explain_lines(doc)), render_dot(drawing), render_mermaid(drawing)):
        assert "nan" not in text


def test_a_flat_gate_sends_nothing_under_an_infinite_gradient() -> None:
    out = run("explain", "sqrt(relu(x))", "--at", "x=-1").stdout
    assert "sends to x         0  -> x  (flat in x here: nothing flows back, not 0 * inf)" in out
    assert "  dx = 0\n" in out
    dot = run("graph", "sqrt(relu(x))", "--at", "x=-1", "--format", "dot").stdout
    assert 'n0 -> n1 [label="grad 0"' in dot
    assert "grad nan" not in dot
    doc = json.loads(run("explain", "sqrt(relu(x))", "--at", "x=-1", "--json").stdout)
    (send,) = doc["backward"][1]["sends"]
    assert send == {
        "to": 0,
        "name": "x",
        "formula": "1 if x > 0, else 0",
        "local": 0.0,
        "upstream": None,
        "grad": 0.0,
        "flat": True,
    }


def test_the_trace_is_optional_and_changes_no_number() -> None:
    graph = build_graph(parse("h = tanh(w*x); sqrt(relu(h - 1)) + h*h + max(w, x)"))
    values = forward(graph, {"w": 0.5, "x": 2.0})
    trace: list = []
    assert backward(graph, values) == backward(graph, values, trace=trace)
    assert [visit.node for visit in trace] == [11, 10, 9, 8, 7, 6, 5, 3, 2]  # gates, output first
    assert evaluate("x*2", {"x": 1.0}, check=False).trace is None  # eval pays nothing


# --- names ------------------------------------------------------------------------


def test_an_assignment_names_the_node_it_makes() -> None:
    graph = build_graph(parse("h1 = tanh(w*x); h1*2"))
    assert dict(graph.names) == {3: "h1"}
    # A rebinding names each binding's own node; `a = x` and `b = a` make none.
    graph = build_graph(parse("h = x*2; h = h + 1; a = x; b = h; b*a"))
    assert {graph.nodes[i].op: name for i, name in graph.names.items()} == {
        "mul": "h",
        "add": "h",
    }
    assert graph.nodes[0].label == "x" and 0 not in graph.names


def test_the_table_json_explain_and_graph_show_the_name() -> None:
    table = run("eval", "h1 = tanh(w*x); h1*2", "--at", "w=0.5,x=2", "--no-check").stdout
    assert " 3  tanh   h1 = tanh(w*x)  2 " in table
    doc = json.loads(run("eval", "h1 = tanh(w*x); h1*2", "--at", "w=0.5,x=2", "--json").stdout)
    jsonschema.validate(doc, SCHEMA)
    assert [node.get("name") for node in doc["nodes"]] == [None, None, None, "h1", None, None]
    assert doc["nodes"][3]["text"] == "tanh(w*x)"
    out = run("explain", "h1 = tanh(w*x); h1*2", "--at", "w=0.5,x=2").stdout
    assert "[3]  tanh      h1 = tanh(w*x) = tanh(1) = 0.7616" in out
    assert "step 2  tanh gate [3]  h1 = tanh(w*x)" in out
    assert "sends to h1        2 * 1 = 2  -> h1" in out
    text = run("graph", "h1 = tanh(w*x); h1*2", "--at", "w=0.5,x=2").stdout
    assert "[3] tanh  h1 = tanh(w*x)  value 0.7616  grad 2" in text
    dot = run("graph", "h1 = tanh(w*x); h1*2", "--format", "dot").stdout
    assert 'n3 [label="[3] tanh\\nh1 = tanh(w*x)"];' in dot
    mermaid = run("graph", "h1 = tanh(w*x); h1*2", "--format", "mermaid").stdout
    assert 'n3["[3] tanh<br>h1 = tanh(w*x)"]' in mermaid


def test_explain_calls_inputs_by_their_own_names() -> None:
    # The placeholder letters x, a, b never reach the reader (here y is the user's).
    out = run("explain", "sigmoid(y)", "--at", "y=-4").stdout
    assert "cached input       y = -4\n" in out
    assert "local d/dy         sigmoid(y)*(1 - sigmoid(y)) = " in out
    out = run("explain", "w*x", "--at", "w=0.5,x=2").stdout
    assert "cached inputs      w = 0.5, x = 2\n" in out
    assert "local d/dw         x = 2\n" in out
    assert "local d/dx         w = 0.5\n" in out
    # A user's own a and b are not swapped for the gate's letters.
    out = run("explain", "b - a", "--at", "a=1,b=5").stdout
    assert "local d/db         1\n" in out and "local d/da         -1\n" in out
    # An unnamed gate operand: short text, in parentheses where needed, else its id.
    out = run("explain", "1/(w*x)", "--at", "w=0.5,x=2").stdout
    assert "local d/d(w*x)     -1/(w*x)^2 = -1/1^2 = -1" in out
    out = run("explain", "exp(w*x + x*x + 1)", "--at", "w=0.5,x=2").stdout
    assert "local d/d[6]       exp([6]) = " in out  # [6] is w*x + x*x + 1


def test_squaring_is_not_called_an_x_gate() -> None:
    out = run("explain", "y = 3; out = 2*z; (out - y)^2", "--at", "z=1").stdout
    assert "x^2" not in out
    assert "^2 gate" in out
    assert "local d/d(out - y)  2*(out - y) = 2*(-1) = -2" in out


# --- order --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("x*y + z", "--at", "z=1,y=2,x=3"),
        ("x*y + z", "--at", "y=2", "--at", "x=3", "--at", "z=1"),
    ],
)
def test_the_at_line_lists_inputs_in_program_order(args: tuple[str, ...]) -> None:
    out = run("explain", *args).stdout
    assert "At       x = 3, y = 2, z = 1\n" in out


def test_the_at_line_follows_the_program_not_the_at_comment(tmp_path: Path) -> None:
    program = tmp_path / "p.bp"
    program.write_text("# at: z=1, y=2, x=3\nx*y + z\n", encoding="utf-8")
    out = run("explain", "-f", str(program)).stdout
    assert "At       x = 3, y = 2, z = 1\n" in out


def test_eval_lists_notes_in_node_order() -> None:
    # relu(x - 1) at x = 1 is a kink (node 3); x (node 0) and x - 1 (node 2)
    # pass it; the notes were listed kink first.
    out = run("eval", "relu(x - 1) * y", "--at", "x=1,y=2").stdout
    notes = out.split("notes\n", 1)[1].splitlines()
    ids = [int(line.split()[1]) for line in notes if line.startswith("  node ")]
    assert ids == sorted(ids) and len(ids) == 3
