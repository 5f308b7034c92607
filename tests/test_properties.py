"""Properties of the whole language, checked on generated programs (hypothesis).

The programs come from tests/strategies.py: every gate, `pi`/`e`, `^` and
`**`, prefix signs, assignments with rebinding and shadowing, fan-out,
comments, with a point inside every gate's domain and away from its kinks.
The expected numbers come from the tests' own evaluation of the generated
structure through Python's `math`, from central finite differences of that
evaluation, and from SymPy (the engine's cross-check, which builds its own
expressions from the graph): never from the engine under test.

Example counts are set per property; BACKPROP_HYPOTHESIS_PROFILE=thorough
multiplies them by ten (see tests/hypothesis_profiles.py).
"""

from __future__ import annotations

import math
import sys
from unittest.mock import patch

import pytest
from backprop.cli.render import render_error, render_json, render_plain
from backprop.engine import DomainError, NumericError, Result, evaluate
from backprop.engine import check as check_module
from backprop.engine.build import build_graph
from backprop.parser import BackpropError, parse, to_sexpr
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from strategies import (
    INPUT_NAMES,
    GenProgram,
    any_text,
    programs,
    reference_value,
    sexpr,
    to_source,
    token_soups,
)

EPS = sys.float_info.epsilon


def conditioning(result: Result) -> float:
    """kappa = sum of |value| * w over the nodes: a first-order bound on the output's
    rounding noise over eps.

    Each node's result is rounded to within eps*|value|, and that error reaches
    the output multiplied by the sum over paths of the products of |local
    derivatives| (w). Constant sub-expressions count too: softplus(-5) is
    rounded however it is computed, and its error flows on like any other.
    """
    from backprop.engine.gates import GATES

    nodes = result.nodes
    weight = [0.0] * len(nodes)
    weight[result.output] = 1.0
    for node in reversed(nodes):
        if not node.inputs or not weight[node.id]:
            continue
        local = GATES[node.op].local(*[nodes[j].value for j in node.inputs], node.value)
        for j, d in zip(node.inputs, local):
            if math.isfinite(d):
                weight[j] += weight[node.id] * abs(d)
    total = sum(abs(node.value) * w for node, w in zip(nodes, weight) if math.isfinite(w))
    return total + abs(result.value)


# --- the parser -------------------------------------------------------------------


@given(programs())
@settings(max_examples=examples(400))
def test_generated_text_parses_to_the_generated_structure(program: GenProgram) -> None:
    """Precedence, associativity, signs, comments and separators, read as written."""
    assert to_sexpr(parse(program.source)) == sexpr(program.statements)


@given(programs())
@settings(max_examples=examples(300))
def test_printing_a_tree_and_parsing_it_gives_the_same_tree(program: GenProgram) -> None:
    tree = parse(program.source)
    printed = to_source(tree)
    assert to_sexpr(parse(printed)) == to_sexpr(tree)
    assert to_source(parse(printed)) == printed  # the printer is canonical


@given(token_soups())
@settings(max_examples=examples(400))
def test_token_soups_that_parse_print_back_to_the_same_tree(text: str) -> None:
    try:
        tree = parse(text)
    except BackpropError:
        event("does not parse")
        return
    event("parses")
    assert to_sexpr(parse(to_source(tree))) == to_sexpr(tree)


@pytest.mark.parametrize(
    ("source", "sexpr_start"),
    [
        ("-" * 50_000 + "x", "(neg (neg "),
        ("(" * 20_000 + "x" + ")" * 20_000, "x"),
        ("2^" * 30_000 + "x", "(pow 2 (pow 2 "),
        ("x" + "-x" * 30_000, "(sub (sub "),
        ("sqrt(" * 10_000 + "x" + ")" * 10_000, "(sqrt (sqrt "),
    ],
    ids=["signs", "parentheses", "power-tower", "long-sum", "calls"],
)
def test_printing_deep_trees_does_not_recurse(source: str, sexpr_start: str) -> None:
    tree = parse(source)
    expected = to_sexpr(tree)
    assert expected.startswith(sexpr_start)
    assert to_sexpr(parse(to_source(tree))) == expected


# --- values and gradients ----------------------------------------------------------


@given(programs())
@settings(max_examples=examples(400))
def test_forward_value_matches_a_direct_evaluation_with_math(program: GenProgram) -> None:
    """The output equals the tests' own `math` evaluation, to rounding.

    The two evaluations may differ in operation order (sigmoid and softplus
    are written naively here, stably in the engine), so the tolerance is
    64 * eps * kappa, kappa = sum |value * grad| over the nodes.
    """
    try:
        expected = reference_value(program.statements, program.point)
    except (ValueError, ArithmeticError):
        event("outside the domain")
        with pytest.raises((DomainError, NumericError)):
            evaluate(program.source, program.point, check=False)
        return
    result = evaluate(program.source, program.point, check=False)
    tolerance = 64 * EPS * conditioning(result)
    assert abs(result.value - expected) <= tolerance, (result.value, expected, tolerance)


@given(programs())
@settings(max_examples=examples(300))
def test_gradients_match_central_finite_differences(program: GenProgram) -> None:
    """Each input's gradient against central differences of the `math` evaluation.

    The rule, for an input x with gradient g, f the tests' own evaluation:

        h  = 2**-16 * max(1, |x|)
        D1 = (f(x+h) - f(x-h)) / 2h          D2 = the same with h/2
        |g - D2| <= |D1 - D2| + 64 * eps * kappa / h + 1e-7 * max(1, |g|)

    |D1 - D2| is three times D2's truncation error (which shrinks as h**2);
    eps * kappa / h bounds the rounding noise that the division by 2h
    amplifies (kappa = sum |value * grad| over the nodes: each node's
    rounding error reaches the output scaled by its gradient); the last
    term is the slack of a difference quotient on well-conditioned inputs.
    Points stay 0.05 away from kinks and domain edges (see strategies.py),
    so f is smooth within h of the point.
    """
    result = evaluate(program.source, program.point, check=False)
    kappa = conditioning(result)
    for name, grad in result.gradients.items():
        assert grad is not None and math.isfinite(grad)
        x = program.point[name]

        def f(value: float, name: str = name) -> float:
            return reference_value(program.statements, {**program.point, name: value})

        h = 2.0**-16 * max(1.0, abs(x))
        d1 = (f(x + h) - f(x - h)) / (2 * h)
        d2 = (f(x + h / 2) - f(x - h / 2)) / h
        tolerance = abs(d1 - d2) + 64 * EPS * kappa / h + 1e-7 * max(1.0, abs(grad))
        assert abs(grad - d2) <= tolerance, (name, grad, d2, tolerance)


@given(programs(max_statements=3, max_depth=3))
@settings(max_examples=examples(200))
def test_every_node_gradient_agrees_with_sympy(program: GenProgram) -> None:
    """SymPy's derivative for every node (the cross-check's per-node adjoint check) agrees."""
    result = evaluate(program.source, program.point, check_seconds=120)
    assert result.check.status == "ok", result.check.message
    for node in result.nodes:
        if node.grad is None:
            assert node.verdict is None
        else:
            assert node.verdict == "ok", (node.id, node.text, node.grad, node.sympy_grad)


@given(programs())
@settings(max_examples=examples(200))
def test_every_node_gradient_agrees_gate_by_gate(program: GenProgram) -> None:
    """The linear check (each gate's SymPy derivative at the computed values, the chain
    rule rerun in 113-bit arithmetic) agrees on every node, as it must for large graphs."""
    with patch.object(check_module, "EXPRESSION_LIMIT", 0):  # no whole-program derivative
        result = evaluate(program.source, program.point, check_seconds=120)
    assert result.check.status == "ok", result.check.message
    for node in result.nodes:
        if node.grad is not None:
            assert (node.verdict, node.check) == ("ok", "local"), (node.id, node.reason)


@given(st.data())
@settings(max_examples=examples(3))
def test_generated_programs_nearly_all_evaluate(data: st.DataObject) -> None:
    """The domain guards work: the strategy is not mostly testing error paths."""
    drawn = [data.draw(programs()) for _ in range(20)]
    evaluated = 0
    for program in drawn:
        try:
            evaluate(program.source, program.point, check=False)
            evaluated += 1
        except (DomainError, NumericError):
            pass
    assert evaluated >= 18


# --- random text ----------------------------------------------------------------------


def _run_text(text: str, value: float) -> None:
    """Evaluate `text` with every input at `value`: a result, or a BackpropError only."""
    try:
        names = list(build_graph(parse(text)).inputs)
    except BackpropError as err:
        event("does not parse")
        assert render_error(text, err).startswith("error: ")
        return
    try:
        result = evaluate(text, dict.fromkeys(names, value), check=False)
    except BackpropError as err:
        event(type(err).__name__)
        assert render_error(text, err).startswith("error: ")
        return
    event("evaluates")
    render_plain(result)
    render_json(result)


@given(token_soups(), st.sampled_from([0.5, -1.0, 0.0, 2.0, 1e300]))
@settings(max_examples=examples(400))
def test_token_soups_evaluate_or_fail_with_a_backprop_error(text: str, value: float) -> None:
    _run_text(text, value)


@given(any_text(), st.sampled_from([0.5, -2.0]))
@settings(max_examples=examples(300))
def test_arbitrary_unicode_evaluates_or_fails_with_a_backprop_error(
    text: str, value: float
) -> None:
    _run_text(text, value)


@given(st.lists(st.sampled_from(INPUT_NAMES), min_size=1, max_size=3), any_text())
@settings(max_examples=examples(100))
def test_unknown_or_missing_point_names_are_input_errors(names: list[str], junk: str) -> None:
    """A point naming a non-input, or missing one, is refused with a BackpropError."""
    source = "*".join(names)
    with pytest.raises(BackpropError):
        evaluate(source, {"not_an_input_" + str(len(junk)): 1.0}, check=False)
