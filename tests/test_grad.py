"""`backprop grad`: the gradient as a program that reads back.

The first opinion is `backprop eval`'s own gradient: the printed program,
evaluated, must give it to the last bit. The second derivative, by printing
the printed program's gradient again, is held to SymPy's second derivative of
a formula written out here (not built from our graph).
"""

from __future__ import annotations

import json
import math
import sys

import pytest
import sympy as sp
from backprop.engine import evaluate
from backprop.engine.build import build_graph
from backprop.engine.derive import floats, reverse
from backprop.engine.gates import GATES
from backprop.engine.gradient import gradient_program
from backprop.engine.point import defaults
from backprop.parser import parse
from clirun import ROOT, run

X, Y, Z = sp.symbols("x y z", real=True)

# (program, point, the same function written in SymPy by hand)
CORPUS = [
    ("(x+y)*z", {"x": -2.0, "y": 5.0, "z": -4.0}, (X + Y) * Z),
    ("x*x + x", {"x": 3.0}, X * X + X),
    ("1/(1+exp(-(x*y+z)))", {"x": 2.0, "y": -1.0, "z": -3.0}, 1 / (1 + sp.exp(-(X * Y + Z)))),
    ("x - y/z + -x", {"x": 1.5, "y": 2.0, "z": -0.75}, X - Y / Z - X),
    ("x**3 - 2^x + x^y", {"x": 1.3, "y": 2.5}, X**3 - 2**X + X**Y),
    ("-x**2 + +y", {"x": 0.7, "y": 2.0}, -(X**2) + Y),
    ("log(x) + sqrt(x*y) + exp(-y)", {"x": 2.5, "y": 0.3}, sp.log(X) + sp.sqrt(X * Y) + sp.exp(-Y)),
    ("sin(x)*cos(y) + tan(x*y)", {"x": 0.4, "y": -1.1}, sp.sin(X) * sp.cos(Y) + sp.tan(X * Y)),
    (
        "asin(x) - acos(x*y) + atan(y)",
        {"x": 0.3, "y": -0.6},
        sp.asin(X) - sp.acos(X * Y) + sp.atan(Y),
    ),
    (
        "sinh(x) + cosh(x*y) * tanh(y)",
        {"x": 0.8, "y": -0.45},
        sp.sinh(X) + sp.cosh(X * Y) * sp.tanh(Y),
    ),
    (
        "sigmoid(x*y) + softplus(x - y)",
        {"x": 1.2, "y": -0.3},
        1 / (1 + sp.exp(-X * Y)) + sp.log(1 + sp.exp(X - Y)),
    ),
    ("tanh(40*x)", {"x": 0.9}, sp.tanh(40 * X)),
    ("relu(x*y) + abs(x - y)", {"x": 1.5, "y": 0.5}, X * Y + (X - Y)),
    ("max(x, y, x*y) - min(x, y)", {"x": 3.0, "y": 1.5}, X * Y - Y),
    ("h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1); h*h", {"h": 0.3}, None),
    ("a = x*y; b = a + x; a*b/y", {"x": 0.7, "y": 1.9}, X * Y * (X * Y + X) / Y),
    ("e = 3; e*x + pi*x^2", {"x": 2.0}, 3 * X + sp.pi * X**2),
    ("x/(1 + x^2)*sin(x)", {"x": 0.6}, X / (1 + X**2) * sp.sin(X)),
    ("pow(x, 3) + where(x - 1, x, 2*x) + sign(y)*y", {"x": 1.5, "y": -2.0}, X**3 + X + (-1) * Y),
    ("y*x^0 + 0^y*x", {"x": 0.5, "y": 2.0}, Y + 0 * X),
]


def _samples() -> list[tuple[str, dict[str, float]]]:
    out = []
    for path in sorted((ROOT / "samples").glob("*.bp")):
        text = path.read_text()
        out.append((text, dict(defaults(text))))
    return out


PROGRAMS = [(src, at) for src, at, _ in CORPUS] + _samples()


def _derivative_value(text: str, at: dict[str, float]) -> float:
    return evaluate(text, at, check=False).value


@pytest.mark.parametrize(("source", "at"), PROGRAMS, ids=[p[0][:30] for p in PROGRAMS])
def test_printed_gradient_reads_back_to_evals_gradient_bit_for_bit(
    source: str, at: dict[str, float]
) -> None:
    expected = evaluate(source, at, check=False).gradients
    for name in expected:
        printed = gradient_program(source, [name]).text
        assert _derivative_value(printed, at) == expected[name], (source, name, printed)


@pytest.mark.parametrize(("source", "at", "formula"), [c for c in CORPUS if c[2] is not None])
def test_second_derivative_by_composition_matches_sympy(
    source: str, at: dict[str, float], formula: sp.Expr
) -> None:
    point = {sp.Symbol(n, real=True): sp.Float(v, 40) for n, v in at.items()}
    for first in at:
        once = gradient_program(source, [first]).text
        for second in at:
            twice = gradient_program(once, [second]).text
            ours = _derivative_value(twice, at)
            exact = sp.diff(formula, sp.Symbol(first, real=True), sp.Symbol(second, real=True))
            expected = float(exact.xreplace(point).evalf(30))
            assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12), (source, first, second)


def test_perceptron_gradient_in_bp_keeps_the_at_line_and_reads_back() -> None:
    text = run("grad", "-f", "samples/perceptron.bp").stdout
    assert "# at: w0=2, x0=-1, w1=-3, x1=-2, w2=-3" in text
    # Read back with no --at: the kept '# at:' line gives the point.
    done = run("eval", "-", "--no-check", "--json", stdin=text)
    value = json.loads(done.stdout)["value"]
    assert value == pytest.approx(0.19661193324148185, rel=1e-12)  # the seed's d/dw2


def test_rebinding_gets_fresh_names_and_the_input_keeps_its_own() -> None:
    text = gradient_program("h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1); h*h", ["h"]).text
    statements = [line for line in text.splitlines() if not line.startswith("#")]
    assert any(line.startswith("h_2 = tanh(") for line in statements)
    assert any(line.startswith("h_3 = tanh(") for line in statements)
    assert statements[-1].startswith("d_h = ")
    assert (
        _derivative_value(text, {"h": 0.3})
        == evaluate(
            "h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1); h*h", {"h": 0.3}, check=False
        ).gradients["h"]
    )


def test_a_users_d_x_is_not_overwritten() -> None:
    source = "d_x = 2*x; d_x*x"
    text = gradient_program(source, ["x"]).text
    assert "d_x_2" in text.splitlines()[-1]
    assert _derivative_value(text, {"x": 3.0}) == 12.0  # d/dx 2x^2 = 4x


def test_flat_gates_stop_an_infinite_gradient_in_the_graph_too() -> None:
    # sqrt's slope at 0 is inf, but relu below 0 is flat: d/dx is 0, not 0 * inf.
    derived = reverse(build_graph(parse("sqrt(relu(x))")))
    from backprop.engine.derive import evaluate_floats
    from backprop.engine.passes import forward

    graph = build_graph(parse("sqrt(relu(x))"))
    values = evaluate_floats(derived, forward(graph, {"x": -1.0}))
    assert values[derived.gradients["x"]] == 0.0
    assert evaluate("sqrt(relu(x))", {"x": -1.0}, check=False).gradients["x"] == 0.0


@pytest.mark.parametrize("name", sorted(set(GATES) - {"var", "const"}))
def test_the_rule_adds_nodes_that_compute_what_it_computes_on_floats(name: str) -> None:
    """The same vjp rule, run on floats and run as a graph, gives the same floats."""
    from backprop.engine.derive import Builder, Handle, evaluate_floats

    gate = GATES[name]
    arity = {1: 1, 2: 2, 3: 3, -1: 3}[gate.arity]
    point = (0.37, 1.3, -0.7)[:arity]
    out = gate.forward(*point)
    on_floats = gate.vjp(floats(), -1.5, *point, out)
    operators = {"add": "a + b", "sub": "a - b", "mul": "a*b", "div": "a/b", "pow": "a^b"}
    operators |= {"neg": "-a", "pos": "+a"}
    source = operators.get(name) or f"{name}(" + ", ".join("abc"[:arity]) + ")"
    graph = build_graph(parse(source))
    b = Builder.from_graph(graph)
    g = b.const(-1.5)
    ins = graph.nodes[-1].inputs
    built = gate.vjp(b, g, *[Handle(b, j) for j in ins], Handle(b, len(graph.nodes) - 1))
    derived = reverse(graph)  # to borrow its shape: values come from the builder's lists
    values = evaluate_floats(
        type(derived)(
            tuple(b.ops),
            tuple(b.inputs),
            tuple(b.values),
            tuple(b.labels),
            len(graph.nodes),
            graph.output,
            (),
            {},
        ),
        [*point, out],
    )
    for mine, node in zip(on_floats, built):
        assert (mine is None) == (node is None)
        if node is not None:
            assert values[node.id] == mine or (mine != mine and values[node.id] != values[node.id])


@pytest.mark.slow
def test_a_deep_chain_prints_and_evaluates_without_recursion() -> None:
    from backprop.parser.parse import cycle_collector_paused

    steps = 100_000
    source = "h = tanh(0.5*h + 0.1)\n" * steps + "h"
    with cycle_collector_paused():  # as evaluate and grad do: half a million objects
        graph = build_graph(parse(source))
        derived = reverse(graph)
    # A constant number of nodes per gate: linear in the program.
    assert len(derived.ops) <= 6 * len(graph.nodes)
    text = gradient_program(source, ["h"]).text
    assert text.count("\n") < 12 * steps
    value = _derivative_value(text, {"h": 0.3})
    # 100,000 slopes of 0.5*tanh' underflow to 0 in both; 500 steps do not.
    assert value == evaluate(source, {"h": 0.3}, check=False).gradients["h"]
    short = "h = tanh(0.5*h + 0.1)\n" * 500 + "h"
    expected = evaluate(short, {"h": 0.3}, check=False).gradients["h"]
    assert expected != 0.0
    assert _derivative_value(gradient_program(short, ["h"]).text, {"h": 0.3}) == expected
    assert sys.getrecursionlimit() < 10_000  # nothing lifted it


def test_python_format_is_a_module_giving_the_same_numbers() -> None:
    source = (ROOT / "samples" / "staged.bp").read_text()
    code = run("grad", "-f", "samples/staged.bp", "--format", "python").stdout
    module: dict[str, object] = {}
    exec(compile(code, "<backprop grad>", "exec"), module)  # our own output, in a test
    at = dict(defaults(source))
    value, grads = module["gradient"](**at)  # type: ignore[operator]
    result = evaluate(source, at, check=False)
    assert value == result.value
    assert grads == result.gradients


def test_python_format_renames_python_keywords() -> None:
    code = gradient_program("lambda*2 + math", fmt="python").text
    assert "def gradient(lambda_, math_):" in code


def test_latex_of_the_circuit() -> None:
    text = run("grad", "(x+y)*z", "--format", "latex").stdout
    assert r"\overline{x} &= z \\" in text
    assert r"\overline{z} &= x + y \\" in text
    assert text.rstrip().endswith(r"\end{aligned}")


def test_sympy_format_is_sympys_derivative() -> None:
    from backprop.engine.printing import sympy_derivatives

    graph = build_graph(parse("x*sin(x)/(1+x^2)"))
    (expr,) = sympy_derivatives(reverse(graph), ["x"]).values()
    assert sp.simplify(expr - sp.diff(X * sp.sin(X) / (1 + X**2), X)) == 0


def test_simplify_writes_a_program_that_reads_back() -> None:
    text = run("grad", "x*sin(x)/(1+x^2)", "--simplify").stdout
    assert "simplified by SymPy" in text
    got = _derivative_value(text, {"x": 0.6})
    expected = float(sp.diff(X * sp.sin(X) / (1 + X**2), X).subs(X, 0.6))
    assert got == pytest.approx(expected, rel=1e-13)


def test_json_gives_a_program_per_input() -> None:
    document = json.loads(run("grad", "(x+y)*z", "--json").stdout)
    assert document["wrt"] == ["x", "y", "z"]
    assert document["format"] == "bp"
    for name, text in document["derivatives"].items():
        value = _derivative_value(text, {"x": -2.0, "y": 5.0, "z": -4.0})
        assert value == {"x": -4.0, "y": -4.0, "z": 3.0}[name]


def test_unknown_wrt_is_bad_input() -> None:
    done = run("grad", "x*y", "--wrt", "q", expect=2)
    assert "q is not an input; inputs are: x, y" in done.stderr
    assert done.stdout == ""


def test_a_program_without_inputs_has_nothing_to_differentiate() -> None:
    done = run("grad", "2*pi", expect=2)
    assert "no inputs" in done.stderr


def test_simplify_with_python_is_a_usage_error() -> None:
    run("grad", "x*x", "--format", "python", "--simplify", expect=2)


def test_zero_gradient_input_reads_back() -> None:
    text = gradient_program("x**0 + y", ["x"]).text
    assert _derivative_value(text, {"x": 0.0, "y": 1.0}) == 0.0
    assert math.copysign(1.0, _derivative_value(text, {"x": 2.0, "y": 1.0})) == 1.0


@pytest.mark.parametrize(
    ("op", "program", "wrong"),
    [
        ("mul", "x*y", lambda L, g, a, b, out: (g * b * 2.0, g * a)),
        ("add", "x + y", lambda L, g, a, b, out: (g, -g)),
        ("tanh", "tanh(x*y)", lambda L, g, a, out: (g * L.dtanh(a) * 1.5,)),
    ],
)
def test_a_rule_changed_in_the_table_is_the_rule_used(op: str, program: str, wrong) -> None:  # type: ignore[no-untyped-def]
    """No gate has a copy of its rule in the passes: a wrong rule gives a wrong
    gradient, and the check calls it a mismatch (issue: add, mul and tanh were inlined)."""
    import dataclasses

    gates = dict(GATES)
    gates[op] = dataclasses.replace(GATES[op], vjp=wrong)
    at = {"x": 0.5, "y": 1.5}
    right = evaluate(program, at, check=False).gradients
    result = evaluate(program, at, gates=gates)
    assert result.gradients != right
    assert result.check.status == "mismatch"


@pytest.mark.parametrize(
    ("source", "at"),
    [("x", {"x": 2.0}), ("x; y*3", {"x": 1.0, "y": 2.0}), ("x\n# at: x=4\n", None)],
)
def test_an_input_no_gate_reads_stays_an_input(source: str, at: dict[str, float] | None) -> None:
    point = at or dict(defaults(source))
    expected = evaluate(source, point, check=False).gradients
    for name in expected:
        text = gradient_program(source, [name]).text
        assert _derivative_value(text, point) == expected[name]


@pytest.mark.parametrize(
    ("source", "at", "wrt"),
    [
        ("x^y", {"x": 0.0, "y": 2.0}, "y"),  # 0**y is flat in y: the log(0) branch is not taken
        ("hypot(x, y)", {"x": 0.0, "y": 0.0}, "x"),  # the kink: 0, not 0/0
        ("hypot(x, y)*3", {"x": 0.0, "y": 0.0}, "y"),
    ],
)
def test_the_printed_program_reads_back_where_a_branch_not_taken_is_undefined(
    source: str, at: dict[str, float], wrt: str
) -> None:
    text = gradient_program(source, [wrt]).text
    assert _derivative_value(text, at) == evaluate(source, at, check=False).gradients[wrt] == 0.0


@pytest.mark.parametrize(
    ("source", "at", "expected"),
    [
        ("where(sqrt(x), 1, 2)*x", {"x": 0.0}, 2.0),  # nothing flows into where's condition
        ("sign(sqrt(x)) + x", {"x": 0.0}, 1.0),  # nor through sign
        ("sign(-x)", {"x": 1.0}, 0.0),
    ],
)
def test_nothing_flows_on_from_a_node_that_received_nothing(
    source: str, at: dict[str, float], expected: float
) -> None:
    got = evaluate(source, at, check=False).gradients["x"]
    assert got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)
    assert _derivative_value(gradient_program(source, ["x"]).text, at) == got


def test_the_last_wrt_is_the_output() -> None:
    text = gradient_program("x*y*2", ["x", "y", "x"]).text
    assert text.rstrip().splitlines()[-1].startswith("d_x")
    assert _derivative_value(text, {"x": 1.0, "y": 5.0}) == 10.0


def test_python_format_writes_every_gate_it_uses() -> None:
    code = gradient_program("erf(x) + logsumexp(x, y) + 2*x", fmt="python").text
    module: dict[str, object] = {}
    exec(compile(code, "<backprop grad>", "exec"), module)  # our own output, in a test
    value, grads = module["gradient"](0.3, 0.2)  # type: ignore[operator]
    result = evaluate("erf(x) + logsumexp(x, y) + 2*x", {"x": 0.3, "y": 0.2}, check=False)
    assert value == pytest.approx(result.value, rel=1e-15)
    assert grads["x"] == pytest.approx(result.gradients["x"], rel=1e-15)
    assert isinstance(grads["y"], float)


def test_python_names_that_would_collide_are_refused() -> None:
    done = run("grad", "lambda*lambda_", "--format", "python", expect=2)
    assert "lambda, lambda_" in done.stderr or "lambda_" in done.stderr
