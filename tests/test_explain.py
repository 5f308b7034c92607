"""`backprop explain`: the seed's walk-through, gate by gate, with the seed's numbers.

Expected numbers come from the seed (../shared/seed/backpropagation.md), from
hand derivations written out here with `math`, from SymPy applied to
expressions the tests build themselves, or from central finite differences.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from backprop.cli.explain import explain_lines, number, render_plain, render_rich
from backprop.engine import evaluate
from backprop.engine.explain import (
    FORMULAS,
    NOT_IN_LANGUAGE,
    explain,
    fill,
    gate_view,
    placeholders,
    symbolic,
)
from backprop.engine.gates import GATES
from clirun import ROOT, run

PERCEPTRON = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
SEED_POINT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}

# By hand: the sum is 2*-1 + -3*-2 - 3 = 1, so the 1/x gate reads 1 + e^-1.
DENOMINATOR = 1.0 + math.exp(-1.0)
INTO_RECIPROCAL = -1.0 / DENOMINATOR**2  # -0.5344...
THROUGH_EXP = INTO_RECIPROCAL * math.exp(-1.0)  # -0.1966...


def walk(source: str = PERCEPTRON, at: dict[str, float] | None = None):  # type: ignore[no-untyped-def]
    return explain(evaluate(source, SEED_POINT if at is None else at, check=False))


def text(precision: int, source: str = PERCEPTRON) -> str:
    return render_plain(explain_lines(walk(source), precision))


def step_of(doc, gate: str):  # type: ignore[no-untyped-def]
    (step,) = [s for s in doc.backward if s.gate == gate]
    return step


# --- the gate table ---------------------------------------------------------------


def test_every_gate_in_the_table_has_a_formula() -> None:
    gates = {name for name, gate in GATES.items() if gate.arity != 0}
    assert gates == set(FORMULAS)
    for name in gates:
        arity = GATES[name].arity
        if arity > 0:
            assert len(FORMULAS[name].local) == arity, name
            view = gate_view(name, [("var", "u", False)] * arity)
            assert all(view.local), name
        else:  # max and min: one formula per argument, however many
            view = gate_view(name, [("var", "u", False)] * 3)
            assert len(view.local) == 3


# A point inside every gate's domain, and a second one far out where it is defined.
POINTS = {"x": (0.3, -0.7), "a": (1.7, 0.4), "b": (2.3, -1.6)}
DOMAIN_POINTS = {
    "log": (0.3, 7.5),
    "log2": (0.3, 7.5),
    "log10": (0.3, 7.5),
    "sqrt": (0.3, 7.5),
    "asin": (0.3, -0.7),
    "acos": (0.3, -0.7),
}


@pytest.mark.parametrize("name", sorted(set(FORMULAS) - NOT_IN_LANGUAGE))
def test_formula_is_the_derivative(name: str) -> None:
    """Each formula, typed back into backprop, equals SymPy's derivative of the gate."""
    import sympy as sp

    arity = GATES[name].arity
    letters = ["x"] if arity == 1 else ["a", "b"]
    symbols = [sp.Symbol(letter) for letter in letters]
    expression = GATES[name].sympy(sp, *symbols)
    for k in range(2):
        point = {letter: (DOMAIN_POINTS.get(name) or POINTS[letter])[k] for letter in letters}
        for template, symbol in zip(FORMULAS[name].local, symbols):
            formula = symbolic(template, {})
            used = {n: point[n] for n in placeholders(template)}
            ours = evaluate(formula, used, check=False).value
            expected = float(sp.diff(expression, symbol).subs(point).evalf())
            assert ours == pytest.approx(expected, rel=1e-12), (name, formula, point)


@pytest.mark.parametrize("count", [2, 3, 4])
def test_logsumexp_formulas_are_the_softmax_weights(count: int) -> None:
    """logsumexp's templates, typed back into backprop, equal SymPy's derivatives."""
    import sympy as sp

    view = gate_view("logsumexp", [("var", "u", False)] * count)
    point = dict(zip(view.vars, [0.3, -1.2, 2.5, 0.0]))
    symbols = [sp.Symbol(n) for n in view.vars]
    expression = sp.log(sp.Add(*[sp.exp(s) for s in symbols]))
    forward = evaluate(symbolic(view.forward, {}), point, check=False).value
    assert forward == pytest.approx(float(expression.subs(point)), rel=1e-14)
    for template, symbol in zip(view.local, symbols):
        ours = evaluate(symbolic(template, {}), point, check=False).value
        expected = float(sp.diff(expression, symbol).subs(point).evalf())
        assert ours == pytest.approx(expected, rel=1e-12), (template, point)


@pytest.mark.parametrize(
    ("program", "gate", "formula"),
    [
        ("x + 1", "+1", "1"),
        ("1 + x", "+1", "1"),
        ("x - 1", "-1", "1"),
        ("1 - x", "1-x", "-1"),
        ("2*x", "*2", "2"),
        ("-x", "*-1", "-1"),
        ("1/x", "1/x", "-1/x^2"),
        ("3/x", "3/x", "-3/x^2"),
        ("x/2", "/2", "1/2"),
        ("x^2", "^2", "2*x"),
        ("x**3", "^3", "3*x^2"),
        ("x^0.5", "^0.5", "0.5*x^(-0.5)"),
        ("2^x", "2^x", "2^x*log(2)"),
        ("x + pi", "+pi", "1"),
        ("x*y", "multiply", "y"),
        ("exp(x)", "exp", "exp(x)"),
        ("tanh(x)", "tanh", "1 - tanh(x)^2"),
    ],
)
def test_gates_are_named_the_seeds_way(program: str, gate: str, formula: str) -> None:
    at = {"x": 1.5, "y": 2.0} if "y" in program else {"x": 1.5}
    first = walk(program, at).backward[0]
    assert first.gate == gate
    assert symbolic(first.sends[0].formula, first.names) == formula


@pytest.mark.parametrize(
    ("program", "formula", "x"),
    [("3/x", "-3/x^2", 0.7), ("x^3", "3*x^2", -1.3), ("x^0.5", "0.5*x^(-0.5)", 2.0)],
)
def test_named_formulas_are_derivatives_too(program: str, formula: str, x: float) -> None:
    # Central finite differences of the program, against the formula typed back in.
    h = 1e-6
    slope = (
        evaluate(program, {"x": x + h}, check=False).value
        - evaluate(program, {"x": x - h}, check=False).value
    ) / (2 * h)
    assert evaluate(formula, {"x": x}, check=False).value == pytest.approx(slope, rel=1e-6)


def test_negative_numbers_get_parentheses_where_they_would_misread() -> None:
    words = {"a": "-3", "b": "-2", "x": "-1"}
    assert fill("{a} * {b}", words) == "-3 * (-2)"
    assert fill("exp({x})", words) == "exp(-1)"
    assert fill("-{x}", words) == "-(-1)"
    assert fill("-1/{x}^2", words) == "-1/(-1)^2"
    assert fill("{x}^2", words) == "(-1)^2"


def test_numbers_show_their_digits() -> None:
    assert number(-0.19661193324148188, 2) == "-0.20"  # the seed's -0.2, to 2 digits
    assert number(0.39322386648296376, 2) == "0.39"
    assert number(0.39322386648296376, 4) == "0.3932"
    assert number(2.0, 4) == "2"
    assert number(0.5, 4) == "0.5"  # exact: no padding to 0.5000
    assert number(math.inf, 4) == "inf"
    assert number(0.1, None) == "0.1"


# --- the seed's perceptron, sentence by sentence --------------------------------------


def test_steps_run_from_the_output_back_to_the_inputs() -> None:
    doc = walk()
    gates = [step.gate for step in doc.backward]
    assert gates == ["1/x", "+1", "exp", "*-1", "add", "add", "multiply", "multiply"]
    assert [s.gate for s in doc.forward][-1] == "1/x"
    assert doc.backward[0].upstream == 1.0  # "considering that our error (dout) is 1"


def test_perceptron_grad_into_reciprocal_gate() -> None:
    # Seed: "The gradient of the input of the 1/x will be -1/(1.37^2), -0.53"
    step = step_of(walk(), "1/x")
    assert [round(op.value, 2) for op in step.cached] == [1.37]
    (send,) = step.sends
    assert symbolic(send.formula, step.names) == "-1/[13]^2"  # [13] is 1+exp(...)
    assert send.local == pytest.approx(INTO_RECIPROCAL, rel=1e-12)
    assert send.grad == pytest.approx(-0.534446645388523, rel=1e-12)  # SPEC.md
    assert "local d/d[13]      -1/[13]^2 = -1/1.37^2 = -0.534" in text(3)
    assert "sends to [13]      -0.53 * 1 = -0.53  -> [13]" in text(2)


def test_perceptron_increment_gate_passes_the_gradient_unchanged() -> None:
    # Seed: "The increment node does not change the gradient ... (-0.53 * 1), -0.53"
    step = step_of(walk(), "+1")
    (send,) = step.sends
    assert send.local == 1.0
    assert send.grad == send.upstream == pytest.approx(INTO_RECIPROCAL, rel=1e-12)
    assert "sends to [12]      1 * (-0.53) = -0.53  -> [12]" in text(2)


def test_perceptron_exp_gate_uses_its_cached_input() -> None:
    # Seed: "The exp node input gradient will be (exp(-1(cached input)) * -0.53), -0.2"
    step = step_of(walk(), "exp")
    assert [op.value for op in step.cached] == [-1.0]
    (send,) = step.sends
    assert send.local == pytest.approx(math.exp(-1), rel=1e-15)
    assert send.grad == pytest.approx(THROUGH_EXP, rel=1e-12)
    shown = text(2)
    assert "local d/d[11]      exp([11]) = exp(-1) = 0.37" in shown
    assert "sends to [11]      0.37 * (-0.53) = -0.20  -> [11]" in shown


def test_perceptron_negation_flips_the_sign() -> None:
    # Seed: "The negative gain node will be it's input gradient (-1 * -0.2), 0.2"
    step = step_of(walk(), "*-1")
    (send,) = step.sends
    assert send.local == -1.0
    assert send.grad == pytest.approx(-THROUGH_EXP, rel=1e-12)
    assert "sends to [10]      -1 * (-0.20) = 0.20  -> [10]" in text(2)


def test_perceptron_sums_distribute_the_gradient() -> None:
    # Seed: "The sum node will distribute the gradients, so, dw2=0.2, and the sum node
    # also 0.2" and "The sum node again distribute the gradients so again 0.2".
    outer, inner = [s for s in walk().backward if s.gate == "add"]
    for step in (outer, inner):
        assert [send.local for send in step.sends] == [1.0, 1.0]
        for send in step.sends:
            assert send.grad == pytest.approx(-THROUGH_EXP, rel=1e-12)
    shown = text(2)
    assert "sends to w2        1 * 0.20 = 0.20  -> w2" in shown
    assert "sends to [9]       1 * 0.20 = 0.20  -> [9] w0*x0+w1*x1" in shown
    assert "sends to w0*x0     1 * 0.20 = 0.20  -> [7] w0*x0" in shown
    assert "sends to w1*x1     1 * 0.20 = 0.20  -> [8] w1*x1" in shown
    assert "dw2 = 0.20" in shown


def test_perceptron_dw0_is_the_gradient_times_x0() -> None:
    # Seed: "dw0 will be (0.2 * -1), -0.2"
    step = [s for s in walk().backward if s.text == "w0*x0"][0]
    to_w0 = step.sends[0]
    assert to_w0.local == -1.0  # x0, cached
    assert to_w0.grad == pytest.approx(-THROUGH_EXP * -1.0, rel=1e-12)
    shown = text(2)
    assert "sends to w0        -1 * 0.20 = -0.20  -> w0" in shown
    assert "dw0 = -0.20" in shown


def test_perceptron_dx0_is_039_which_the_seed_rounds_to_04() -> None:
    # Seed: "dx0 will be (0.2 * 2). 0.4": the true value is 0.393..., shown as 0.39.
    step = [s for s in walk().backward if s.text == "w0*x0"][0]
    to_x0 = step.sends[1]
    assert to_x0.local == 2.0  # w0, cached
    assert to_x0.grad == pytest.approx(0.3932238664829637, rel=1e-12)  # SPEC.md
    shown = text(2)
    assert "sends to x0        2 * 0.20 = 0.39  -> x0" in shown
    assert "dx0 = 0.39" in shown
    assert "0.4\n" not in shown and "= 0.4 " not in shown


def test_explanation_gradients_are_the_engines_bit_for_bit() -> None:
    for source, at in [
        (PERCEPTRON, SEED_POINT),
        ((ROOT / "samples/staged.bp").read_text(), {"x": 3.0, "y": -4.0}),
        ("x*x + x", {"x": 3.0}),
        ("relu(w*x + b) * max(x, y)", {"w": 2.0, "x": 3.0, "b": -1.0, "y": 1.0}),
    ]:
        result = evaluate(source, at, check=False)
        doc = explain(result)
        for entry in doc.inputs:
            assert entry.grad == result.gradients[entry.name]
            assert math.fsum(p.grad for p in entry.parts) == pytest.approx(entry.grad)
        for step in doc.backward:
            assert step.upstream == result.nodes[step.id].grad
            for send in step.sends:
                assert send.grad == send.local * send.upstream


def test_fanout_gradient_is_the_sum_of_its_uses() -> None:
    # d/dx (x*x + x) at 3: 1 through the add, 3 and 3 through the multiply: 7.
    doc = walk("x*x + x", {"x": 3.0})
    (x,) = doc.inputs
    assert sorted(p.grad for p in x.parts) == [1.0, 3.0, 3.0]
    assert x.grad == 7.0
    assert "dx = 1 + 3 + 3 = 7  (x is used 3 times: the gradients add up)" in render_plain(
        explain_lines(doc)
    )


def test_staged_gradients_agree_with_finite_differences() -> None:
    source = (ROOT / "samples/staged.bp").read_text()
    point = {"x": 3.0, "y": -4.0}
    doc = walk(source, point)
    h = 1e-6
    for entry in doc.inputs:
        up = evaluate(source, {**point, entry.name: point[entry.name] + h}, check=False).value
        down = evaluate(source, {**point, entry.name: point[entry.name] - h}, check=False).value
        assert entry.grad == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_kink_is_noted_in_its_step() -> None:
    step = walk("relu(x - 1) * y", {"x": 1.0, "y": 2.0}).backward[1]
    assert step.gate == "relu"
    assert step.sends[0].local == 0.0  # PyTorch: relu'(0) = 0
    assert any("not differentiable at 0" in note for note in step.notes)


def test_tie_shares_the_gradient_and_says_so() -> None:
    step = walk("max(x, y)", {"x": 2.0, "y": 2.0}).backward[0]
    assert [send.local for send in step.sends] == [0.5, 0.5]
    assert any("tie" in note for note in step.notes)


def test_no_input_means_no_backward_steps() -> None:
    doc = walk("2*pi", {})
    assert doc.backward == ()
    assert "no gradient flows back" in render_plain(explain_lines(doc))


def test_a_statement_that_misses_the_output_has_no_step() -> None:
    doc = walk("y = x*2; x + 1", {"x": 1.0})
    assert [s.gate for s in doc.backward] == ["+1"]
    assert any("does not affect the output" in note for _, _, note in doc.notes)


@pytest.mark.slow
def test_deep_chain_explains_without_recursion() -> None:
    depth = 50_000
    doc = walk("tanh(" * depth + "x" + ")" * depth, {"x": 0.5})
    assert len(doc.backward) == depth
    assert len(render_plain(explain_lines(doc)).splitlines()) > 5 * depth


# --- the command ----------------------------------------------------------------------


def test_json_is_strict_and_complete() -> None:
    done = run("explain", "sqrt(x)*y", "--at", "x=0,y=2", "--json")

    def refuse(token: str) -> None:
        raise AssertionError(f"non-strict JSON token {token}")

    doc = json.loads(done.stdout, parse_constant=refuse)
    multiply, root = doc["backward"]
    assert (multiply["gate"], root["gate"], root["step"]) == ("multiply", "sqrt", 2)
    (send,) = root["sends"]
    assert send["local"] is None and send["grad"] is None  # 1/(2*sqrt(0)) is +inf
    assert any("+inf" in note for note in root["notes"])
    assert doc["gradients"] == {"x": None, "y": 0.0}  # d/dy = sqrt(0) = 0


def test_json_floats_are_in_full() -> None:
    doc = json.loads(run("explain", "-f", "samples/perceptron.bp", "--json").stdout)
    first = doc["backward"][0]
    assert first["gate"] == "1/x"
    assert first["sends"][0]["grad"] == pytest.approx(-0.534446645388523, rel=1e-12)
    assert len(repr(first["sends"][0]["grad"])) > 15
    assert doc["gradients"]["x0"] == pytest.approx(0.3932238664829637, rel=1e-12)


def test_same_input_options_as_eval() -> None:
    by_argument = run("explain", "x*y", "--at", "x=1", "--at", "y=2").stdout
    by_stdin = run("explain", "-", "--at", "x=1,y=2", stdin="x*y\n").stdout
    assert by_argument == by_stdin
    run("explain", "x*y", "-f", "samples/circuit.bp", expect=2)
    assert "missing a value for y" in run("explain", "x*y", "--at", "x=1", expect=2).stderr
    run("explain", "x*y", "--at", "x=1,y=2", "--precision", "0", expect=2)


def test_terminal_output_is_the_plain_text_styled() -> None:
    lines = explain_lines(walk())
    styled = render_rich(lines)
    assert [line.rstrip() for line in styled.plain.splitlines()] == render_plain(lines).splitlines()
    assert styled.spans  # some styling


def test_user_text_is_never_read_as_markup() -> None:
    lines = explain_lines(walk("(x + # [bold] :smile: [/]\n y)", {"x": 1.0, "y": 2.0}))
    assert "[/]" in render_rich(lines).plain


SCRIPT = """
import sys
from click.testing import CliRunner
from backprop.cli.main import cli
result = CliRunner().invoke(cli, ["explain", "x*y", "--at", "x=1,y=2"])
assert result.exit_code == 0, result.output
print(sorted(m for m in ("sympy", "rich") if m in sys.modules))
"""


def test_piped_explain_imports_neither_sympy_nor_rich() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=Path(ROOT)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
