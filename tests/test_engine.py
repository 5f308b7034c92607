"""The engine through its Python API, `evaluate(source, at)`.

Expected numbers come from SPEC.md (the seed's circuits), from derivatives
worked by hand in the test, or from the chain rule written out in plain
Python; never from the engine's own output. The cross-check is off here
(`check=False`) except where a test says otherwise: tests/test_check.py
covers it.
"""

from __future__ import annotations

import math

import pytest
from backprop.engine import DomainError, InputError, NumericError, Result, evaluate
from backprop.engine.build import build_graph
from backprop.engine.graph import Graph, Node, validate
from backprop.engine.passes import backward, forward
from backprop.parser import Span, parse

PERCEPTRON = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
PERCEPTRON_AT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


def run(source: str, **at: float) -> Result:
    return evaluate(source, at, check=False)


def node_for(result: Result, text: str) -> int:
    """The id of the one node whose sub-expression is `text`."""
    (found,) = [n.id for n in result.nodes if n.text == text]
    return found


def assert_close(ours: float | None, expected: float) -> None:
    assert ours is not None
    assert math.isclose(ours, expected, rel_tol=1e-12), (ours, expected)


# --- the seed's numbers (SPEC.md) ------------------------------------------------


def test_circuit_value_and_gradients() -> None:
    result = run("(x+y)*z", x=-2, y=5, z=-4)
    assert result.value == -12.0
    assert result.gradients == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_circuit_add_gate_passes_its_gradient_to_both_inputs() -> None:
    result = run("(x+y)*z", x=-2, y=5, z=-4)
    add = result.nodes[node_for(result, "x+y")]
    assert add.value == 3.0
    assert add.grad == -4.0  # z


def test_perceptron_value() -> None:
    assert_close(evaluate(PERCEPTRON, PERCEPTRON_AT, check=False).value, 0.7310585786300049)


def test_perceptron_gradients() -> None:
    result = evaluate(PERCEPTRON, PERCEPTRON_AT, check=False)
    expected = {
        "w0": -0.19661193324148185,
        "x0": 0.3932238664829637,
        "w1": -0.3932238664829637,
        "x1": -0.5898357997244456,
        "w2": 0.19661193324148185,
    }
    assert list(result.gradients) == list(expected)
    for name, grad in expected.items():
        assert_close(result.gradients[name], grad)


def test_perceptron_grad_into_reciprocal_gate() -> None:
    result = evaluate(PERCEPTRON, PERCEPTRON_AT, check=False)
    into_reciprocal = result.nodes[node_for(result, "1+exp(-(w0*x0+w1*x1+w2))")]
    assert_close(into_reciprocal.grad, -0.534446645388523)


def test_perceptron_follows_the_seeds_steps() -> None:
    # The seed's walk-through, rounded as the seed rounds it.
    result = evaluate(PERCEPTRON, PERCEPTRON_AT, check=False)

    def at(text: str) -> tuple[float, float | None]:
        node = result.nodes[node_for(result, text)]
        return node.value, node.grad

    value, grad = at("1+exp(-(w0*x0+w1*x1+w2))")
    assert round(value, 2) == 1.37 and grad is not None and round(grad, 2) == -0.53
    _, grad = at("exp(-(w0*x0+w1*x1+w2))")  # +1 passes the gradient through
    assert grad is not None and round(grad, 2) == -0.53
    value, grad = at("-(w0*x0+w1*x1+w2)")  # the exp gate's cached input is -1
    assert value == -1.0 and grad is not None and round(grad, 1) == -0.2
    _, grad = at("w0*x0+w1*x1+w2")  # through *-1
    assert grad is not None and round(grad, 1) == 0.2
    assert round(result.gradients["w2"], 1) == 0.2
    assert round(result.gradients["w0"], 1) == -0.2
    assert round(result.gradients["x0"], 1) == 0.4  # the seed's 0.4; 0.39 to two places


# --- the graph: one node per input, per operator as written ------------------------


def test_inputs_come_first_and_each_input_is_one_node() -> None:
    result = run("x*x + y*x", x=1, y=2)
    assert [n.op for n in result.nodes] == ["var", "var", "mul", "mul", "add"]
    assert [n.text for n in result.nodes[:2]] == ["x", "y"]
    assert result.nodes[2].inputs == (0, 0)


def test_no_algebraic_rewriting() -> None:
    result = run("x*x + x - x", x=3)
    assert [n.op for n in result.nodes] == ["var", "mul", "add", "sub"]
    assert result.value == 9.0
    assert result.gradients == {"x": 6.0}


@pytest.mark.parametrize(
    "source",
    [
        PERCEPTRON,
        "(x+y)*z",
        "h = tanh(0.5*h + 0.1); h*h",
        "a = x*2\nb = a + pi\nc = max(a, b, x)\nc^2",
        "-(-x)**2 + sqrt(x) / -y",
    ],
)
def test_built_graphs_validate(source: str) -> None:
    graph = build_graph(parse(source))
    validate(graph)
    assert graph.nodes[graph.output].inputs or graph.output in graph.inputs.values()


def test_validate_rejects_a_node_that_reads_a_later_node() -> None:
    nodes = (
        Node(0, "var", (), Span(0, 1), "x"),
        Node(1, "neg", (2,), Span(0, 2)),
        Node(2, "neg", (0,), Span(0, 2)),
    )
    with pytest.raises(ValueError, match="not earlier"):
        validate(Graph(nodes, 2, {"x": 0}, "-x"))


def test_node_text_is_the_sub_expression_with_whitespace_folded() -> None:
    result = run("(x +\n    y)*2", x=1, y=2)
    assert [n.text for n in result.nodes] == ["x", "y", "x + y", "2", "(x + y)*2"]


def test_long_node_text_is_shortened_to_80_characters() -> None:
    source = " + ".join(f"x{i}" for i in range(60))
    result = run(source, **{f"x{i}": 1.0 for i in range(60)})
    output = result.nodes[result.output]
    assert len(output.text) == 80
    assert output.text == source[:79] + "…"
    assert (output.span.start, output.span.end) == (0, len(source))


# --- fan-out, rebinding, unused inputs, constants ----------------------------------


@pytest.mark.parametrize("x", [3.0, -1.5, 0.0, 1e-3])
def test_fan_out_adds_up(x: float) -> None:
    # Each use of x sends back its own share; the shares are added in float
    # order (x + x + 1 here), so compare with a tolerance.
    assert_close(run("x*x + x", x=x).gradients["x"], 2 * x + 1)
    assert_close(run("x*x", x=x).gradients["x"], 2 * x)


def test_fan_out_through_intermediate_names() -> None:
    # f = (x+1)*(x+1) through a name used twice: 2*(x+1).
    assert run("a = x + 1; a*a", x=2.5).gradients == {"x": 7.0}


def test_rebinding_reads_the_input_first_and_the_new_value_after() -> None:
    h0 = 0.3
    result = run("h = tanh(0.5*h + 0.1); h*h", h=h0)
    # By hand: t = tanh(0.5*h + 0.1); out = t*t; d out/dh = 2t * (1 - t**2) * 0.5.
    t = math.tanh(0.5 * h0 + 0.1)
    assert result.at == {"h": h0}
    assert [n.op for n in result.nodes if n.op == "var"] == ["var"]
    assert_close(result.value, t * t)
    assert_close(result.gradients["h"], 2 * t * (1 - t * t) * 0.5)


def test_rebinding_twice() -> None:
    # x = x*2 twice: out = 4x, so the slope is 4.
    result = run("x = x*2\nx = x*2\nx", x=1.5)
    assert result.value == 6.0
    assert result.gradients == {"x": 4.0}


def test_the_output_is_the_last_statement_even_an_assignment() -> None:
    result = run("y = x*3", x=2)
    assert result.value == 6.0
    assert result.gradients == {"x": 3.0}


def test_an_unused_input_gets_gradient_zero_and_a_note() -> None:
    result = run("y = 2*u; x*3", x=1, u=2)
    assert result.gradients == {"u": 0.0, "x": 3.0}
    u = result.nodes[node_for(result, "u")]
    assert any("does not affect the output" in note for note in u.notes)
    x = result.nodes[node_for(result, "x")]
    assert x.notes == ()


def test_a_node_without_inputs_has_no_gradient() -> None:
    result = run("x**2 + 2*pi", x=-3)
    assert result.gradients == {"x": -6.0}
    two_pi = result.nodes[node_for(result, "2*pi")]
    assert two_pi.value == 2 * math.pi
    assert two_pi.grad is None
    power = result.nodes[node_for(result, "x**2")]
    exponent = result.nodes[power.inputs[1]]
    assert (
        exponent.op == "const" and exponent.grad is None
    )  # so d/db = out*log(-3) is never reported
    for node in result.nodes:
        assert not any("nan" in note for note in node.notes)


def test_constants_pi_and_e() -> None:
    result = run("pi*x + e", x=2)
    assert_close(result.value, 2 * math.pi + math.e)
    assert result.gradients == {"x": math.pi}
    assert list(result.at) == ["x"]


def test_a_constant_can_be_shadowed() -> None:
    result = run("pi = 3; pi*x", x=2)
    assert result.value == 6.0
    assert result.gradients == {"x": 3.0}


def test_a_program_without_inputs() -> None:
    result = run("x = 3; x*pi")
    assert_close(result.value, 3 * math.pi)
    assert result.gradients == {}
    assert all(n.grad is None for n in result.nodes)


# --- bad points: domain, overflow, inputs ------------------------------------------


def test_every_statement_is_evaluated() -> None:
    source = "y = log(x-2); x"
    with pytest.raises(DomainError, match="log needs a positive argument, got -1.0") as info:
        run(source, x=1)
    span = info.value.span
    assert span is not None and source[span.start : span.end] == "log(x-2)"


DOMAIN_ERRORS = [
    # source, x, message fragment (names the gate and the value), the sub-expression blamed
    ("log(x)", 0.0, "log needs a positive argument, got 0.0", "log(x)"),
    ("2 * log(x) + 1", -1.0, "log needs a positive argument, got -1.0", "log(x)"),
    ("sqrt(x)", -1.0, "sqrt needs a non-negative argument, got -1.0", "sqrt(x)"),
    ("asin(x)", 2.0, "asin needs an argument between -1 and 1, got 2.0", "asin(x)"),
    ("acos(x/2)", 3.0, "acos needs an argument between -1 and 1, got 1.5", "acos(x/2)"),
    ("1/x", 0.0, "division by zero: the divisor is 0.0", "1/x"),
    ("x + 1/0", 1.0, "division by zero", "1/0"),
    ("exp(x)", 1000.0, "exp overflows at (1000.0)", "exp(x)"),
    ("cosh(x)", 800.0, "cosh overflows at (800.0)", "cosh(x)"),
    ("(-8)^(1/3) + x", 1.0, "pow needs a positive base", "(-8)^(1/3)"),
    ("x^(1/3)", -8.0, "got -8.0 ** 0.3333333333333333", "x^(1/3)"),
    ("x^-1", 0.0, "got 0.0 ** -1.0", "x^-1"),
]


@pytest.mark.parametrize(
    ("source", "x", "fragment", "blamed"), DOMAIN_ERRORS, ids=[d[0] for d in DOMAIN_ERRORS]
)
def test_domain_error(source: str, x: float, fragment: str, blamed: str) -> None:
    with pytest.raises(DomainError) as info:
        run(source, x=x)
    assert fragment in info.value.message
    span = info.value.span
    assert span is not None and source[span.start : span.end] == blamed


@pytest.mark.parametrize(
    ("source", "x", "blamed"),
    [
        ("1e308*x", 10.0, "1e308*x"),
        ("x*x*x", 1e200, "x*x"),
        ("1/x", 1e-310, "1/x"),
        # The overflow is the error, not the gate that later chokes on its inf.
        ("sin(1e308*x)", 10.0, "1e308*x"),
        ("log(x*x) - sqrt(-x*x)", 1e200, "x*x"),
    ],
)
def test_overflow_to_infinity_is_a_numeric_error(source: str, x: float, blamed: str) -> None:
    with pytest.raises(NumericError, match="overflows") as info:
        run(source, x=x)
    span = info.value.span
    assert span is not None and source[span.start : span.end] == blamed


def test_missing_input() -> None:
    with pytest.raises(InputError, match="missing a value for y") as info:
        run("x + y", x=1)
    assert "inputs are: x, y" in info.value.message


def test_unknown_input() -> None:
    with pytest.raises(InputError, match="w is not an input") as info:
        run("x + y", x=1, y=2, w=3)
    assert "inputs are: x, y" in info.value.message


def test_input_list_shows_the_first_ten_and_how_many_more() -> None:
    names = [f"v{i}" for i in range(25)]
    with pytest.raises(InputError) as info:
        run("+".join(names), **dict.fromkeys(names[:24], 1.0))
    message = info.value.message
    assert "missing a value for v24" in message
    assert "inputs are: v0, v1, v2, v3, v4, v5, v6, v7, v8, v9 (and 15 more)" in message
    assert "v10," not in message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_value(bad: float) -> None:
    with pytest.raises(InputError, match="must be a finite number"):
        run("x", x=bad)


# --- non-finite gradients are reported, not raised ----------------------------------


def test_sqrt_at_zero_has_gradient_plus_infinity() -> None:
    result = run("sqrt(x)", x=0)
    assert result.value == 0.0
    assert result.gradients == {"x": math.inf}
    assert "gradient is +inf" in result.nodes[0].notes


def test_minus_infinite_gradient_note() -> None:
    result = run("-sqrt(x)", x=0)
    assert result.gradients == {"x": -math.inf}
    assert "gradient is -inf" in result.nodes[0].notes


# --- a million nodes -----------------------------------------------------------------

LINE = "h = tanh(a*h + b)\n"


def tanh_chain(steps: int) -> Graph:
    """The graph of LINE repeated `steps` times then `h`, node for node as build_graph makes it.

    Parsing six megabytes of program text takes longer than this test should,
    so the graph is built directly; `test_tanh_chain_builder_matches_the_parser`
    shows the two agree.
    """
    nodes = [
        Node(0, "var", (), Span(9, 10), "a"),
        Node(1, "var", (), Span(11, 12), "h"),
        Node(2, "var", (), Span(15, 16), "b"),
    ]
    append = nodes.append
    h = 1
    for k in range(steps):
        start, i = k * len(LINE), len(nodes)
        append(Node(i, "mul", (0, h), Span(start + 9, start + 12)))
        append(Node(i + 1, "add", (i, 2), Span(start + 9, start + 16)))
        append(Node(i + 2, "tanh", (i + 1,), Span(start + 4, start + 17)))
        h = i + 2
    return Graph(tuple(nodes), h, {"a": 0, "h": 1, "b": 2}, LINE * steps + "h")


def test_tanh_chain_builder_matches_the_parser() -> None:
    direct = tanh_chain(50)
    parsed = build_graph(parse(LINE * 50 + "h"))
    assert parsed.nodes == direct.nodes
    assert parsed.output == direct.output
    assert parsed.inputs == direct.inputs


@pytest.mark.slow
def test_a_million_node_graph() -> None:
    steps = 333_334
    graph = tanh_chain(steps)
    assert len(graph.nodes) == 1_000_005
    validate(graph)
    a, h0, b = 1.0, 0.5, 0.0
    values = forward(graph, {"a": a, "h": h0, "b": b})
    grads = backward(graph, values)

    # The same chain in plain Python, with the chain rule written by hand:
    # h[k+1] = tanh(a*h[k] + b);  d h[k+1] = (1 - h[k+1]**2) * (h[k]*da + a*dh[k] + db).
    # (With a = 1 and b = 0, h decays like sqrt(3 / 2k): the gradients stay
    # well inside the float range after 333,334 steps.)
    hs = [h0]
    for _ in range(steps):
        hs.append(math.tanh(a * hs[-1] + b))
    upstream, grad_a, grad_b = 1.0, 0.0, 0.0
    for k in range(steps, 0, -1):
        pre = upstream * (1.0 - hs[k] * hs[k])  # through tanh
        grad_a += pre * hs[k - 1]
        grad_b += pre
        upstream = pre * a  # into the previous h
    assert_close(values[graph.output], hs[-1])
    assert_close(grads[0], grad_a)
    assert_close(grads[1], upstream)
    assert_close(grads[2], grad_b)
    assert 1e-12 < upstream < 1e-6  # a gradient that is neither lost nor trivial
