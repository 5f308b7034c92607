"""The gate table, one line per gate.

`check_gate` holds each gate to three independent opinions at a few points,
far-out ones included:

- the forward value against the gate's formula written directly here and
  evaluated in 700-digit arithmetic (mpmath), so no float shortcut is shared;
- each local derivative against a central difference of that formula in
  700-digit arithmetic (step 1e-25 relative: truncation and rounding both far
  below double precision), and against a central difference of the gate's own float
  forward (step 1e-6 relative, so a looser tolerance);
- each local derivative against SymPy's derivative of the gate's SymPy
  counterpart (the expression the cross-check builds), and that counterpart's
  value against the forward.

Points of non-differentiability and PyTorch's conventions there are tested
separately below.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import pytest
import sympy
from backprop.cli.main import check_exit_code
from backprop.engine import evaluate
from backprop.engine.explain import FORMULAS
from backprop.engine.gates import GATES
from backprop.parser import FUNCTIONS
from backprop.parser.lang import ALIASES
from backprop.parser.tree import BINARY_GATES, UNARY_GATES
from clirun import ROOT, run

mp = mpmath.mp
DIGITS = 700  # enough to see -1e300 + 3 exactly
Point = tuple[float, ...]

SIDES = [-800.0, -50.0, 50.0, 800.0]  # far out on both sides

GATE_CASES: list[tuple[str, Callable[..., Any], list[Point]]] = [
    # gate       the formula, on mpmath numbers                        points
    ("add", lambda a, b: a + b, [(1.5, -2.25), (-1e300, 3.0)]),
    ("sub", lambda a, b: a - b, [(1.5, -2.25), (1e-300, 7.0)]),
    ("mul", lambda a, b: a * b, [(3.0, -4.0), (1e150, -1e150)]),
    ("div", lambda a, b: a / b, [(1.0, 3.0), (-2.5, 0.125), (7.0, -1e-3), (1e300, 1e5)]),
    ("neg", lambda a: -a, [(2.5,), (-1e300,)]),
    ("pos", lambda a: a, [(2.5,), (-1e300,)]),
    ("pow", lambda a, b: a**b, [(2.0, 3.0), (0.5, -1.5), (3.0, 0.5), (10.0, 300.0), (7.0, -2.0)]),
    ("exp", mp.exp, [(0.0,), (1.5,), (-50.0,), (50.0,), (-700.0,), (700.0,)]),
    ("log", mp.log, [(1e-3,), (0.5,), (2.0,), (1e300,)]),
    ("log1p", mp.log1p, [(1e-30,), (-0.75,), (0.5,), (3.0,), (1e300,)]),
    ("expm1", mp.expm1, [(1e-30,), (-0.5,), (2.0,), (-50.0,), (700.0,)]),
    ("log2", lambda a: mp.log(a, 2), [(1e-3,), (0.5,), (8.0,), (1e300,)]),
    ("log10", lambda a: mp.log(a, 10), [(1e-3,), (0.5,), (100.0,), (1e300,)]),
    ("sqrt", mp.sqrt, [(1e-6,), (2.0,), (1e300,)]),
    ("sin", mp.sin, [(0.0,), (1.0,), (-2.5,), (50.0,), (800.0,)]),
    ("cos", mp.cos, [(0.0,), (1.0,), (-2.5,), (50.0,), (800.0,)]),
    ("tan", mp.tan, [(0.0,), (0.3,), (-1.2,), (1.5,), (50.0,)]),
    ("asin", mp.asin, [(0.0,), (0.5,), (-0.9,), (0.999,)]),
    ("acos", mp.acos, [(0.0,), (0.5,), (-0.9,), (0.999,)]),
    ("atan", mp.atan, [(0.0,), (0.5,), (-3.0,), (1e8,), (-800.0,)]),
    ("atan2", mp.atan2, [(1.0, 2.0), (-3.0, 0.5), (2.0, -1.0), (-0.5, -4.0), (1e300, -1e300)]),
    ("hypot", lambda a, b: mp.sqrt(a * a + b * b),
     [(3.0, 4.0), (-1.0, 2.5), (0.0, 5.0), (1e300, 1e300), (-1e200, 3.0)]),
    ("erf", mp.erf, [(0.0,), (0.5,), (-1.5,), (5.0,), (-20.0,), (26.0,)]),
    ("sinh", mp.sinh, [(0.0,), (0.5,), (-3.0,), (-50.0,), (50.0,), (700.0,)]),
    ("cosh", mp.cosh, [(0.0,), (0.5,), (-3.0,), (-50.0,), (50.0,), (700.0,)]),
    ("tanh", mp.tanh, [(0.0,), (0.5,), (-3.0,), *[(s,) for s in SIDES]]),
    ("sigmoid", lambda a: 1 / (1 + mp.exp(-a)), [(0.0,), (1.5,), (-3.0,), *[(s,) for s in SIDES]]),
    ("softplus", lambda a: mp.log1p(mp.exp(a)), [(0.0,), (1.5,), (-3.0,), *[(s,) for s in SIDES]]),
    ("relu", lambda a: a if a > 0 else mp.mpf(0), [(-2.5,), (3.0,), (-800.0,), (800.0,)]),
    ("abs", lambda a: abs(a), [(-2.5,), (3.0,), (-800.0,), (800.0,)]),
    ("max", lambda *args: max(args), [(1.0, 2.0), (3.0, -1.0), (1.0, 5.0, 2.0), (-800.0, 800.0)]),
    ("min", lambda *args: min(args), [(1.0, 2.0), (3.0, -1.0), (1.0, 5.0, 2.0), (-800.0, 800.0)]),
    ("logsumexp", lambda *args: mp.log(mp.fsum(mp.exp(x) for x in args)),
     [(1.0, 2.0), (0.5, -1.0, 3.0), (1.0, 2.0, 3.0, 4.0), (800.0, -800.0), (-800.0, -799.0),
      (1000.0, 1000.0)]),
    ("dtanh", lambda a: 1 - mp.tanh(a) ** 2, [(0.0,), (0.5,), (-3.0,), (20.0,), (-40.0,)]),
    ("dsigmoid", lambda a: mp.exp(-a) / (1 + mp.exp(-a)) ** 2,
     [(0.0,), (1.5,), (-3.0,), (40.0,), (-50.0,)]),
    ("derf", lambda a: 2 / mp.sqrt(mp.pi) * mp.exp(-(a**2)), [(0.0,), (0.5,), (-3.0,), (20.0,)]),
    ("where", lambda c, t, f: t if c > 0 else f,
     [(1.0, 2.0, -3.0), (-0.5, 2.0, -3.0), (0.25, -1e300, 4.0)]),
    ("sign", lambda a: mp.sign(a), [(2.5,), (-3.0,), (0.5,), (-800.0,)]),
]  # fmt: skip


def close(ours: float, reference: float, rel: float, absolute: float = 0.0) -> bool:
    """Equal within tolerance; two infinities of the same sign are equal."""
    return ours == reference or math.isclose(ours, reference, rel_tol=rel, abs_tol=absolute)


def precise_slope(formula: Callable[..., Any], point: Point, k: int) -> float:
    """d formula / d point[k] by a central difference in high precision."""
    with mp.workdps(DIGITS):
        args = [mp.mpf(x) for x in point]
        h = mp.mpf("1e-25") * max(1, abs(args[k]))
        up, down = list(args), list(args)
        up[k] += h
        down[k] -= h
        return float((formula(*up) - formula(*down)) / (2 * h))


def float_slope(forward: Callable[..., float], point: Point, k: int) -> tuple[float, float]:
    """d forward / d point[k] by a central difference in floats, and its rounding noise.

    The noise bound is a few ulps of the values differenced, over the step: where
    the output dwarfs the step (-1e300 + 3 moved by 3e-6), floats cannot see the
    slope and the bound says so.
    """
    h = 1e-6 * max(abs(point[k]), 1e-3)
    up, down = list(point), list(point)
    up[k] += h
    down[k] -= h
    high, low = forward(*up), forward(*down)
    noise = 4 * sys.float_info.epsilon * max(abs(high), abs(low)) / (2 * h)
    return (high - low) / (2 * h), noise


def sympy_opinion(name: str, point: Point) -> tuple[float, list[float]]:
    """The gate's SymPy counterpart at the point: its value and its partial derivatives."""
    symbols = sympy.symbols(f"a0:{len(point)}", real=True)
    expr = GATES[name].sympy(sympy, *symbols)
    at = {s: sympy.Float(x, 40) for s, x in zip(symbols, point)}
    value = float(expr.xreplace(at).evalf(40))
    slopes = [float(sympy.diff(expr, s).xreplace(at).evalf(40)) for s in symbols]
    return value, slopes


def check_gate(name: str, formula: Callable[..., Any], points: Sequence[Point]) -> None:
    """Forward against the formula; each local derivative against two differences and SymPy."""
    gate = GATES[name]
    for point in points:
        out = gate.forward(*point)
        with mp.workdps(DIGITS):
            expected = float(formula(*[mp.mpf(x) for x in point]))
        assert close(out, expected, rel=1e-14), (name, point, "forward", out, expected)

        local = gate.local(*point, out)
        assert len(local) == len(point), (name, point, local)
        assert gate.kink is None or gate.kink(*point, out) is None, (name, point, "kink")
        sympy_value, sympy_slopes = sympy_opinion(name, point)
        assert close(sympy_value, out, rel=1e-14), (name, point, "sympy forward", sympy_value)
        for k, slope in enumerate(local):
            precise = precise_slope(formula, point, k)
            rough, noise = float_slope(gate.forward, point, k)
            where = (name, point, k, slope)
            assert close(slope, precise, rel=1e-12, absolute=1e-15), (*where, "precise", precise)
            assert close(slope, rough, rel=1e-5, absolute=noise), (*where, "float", rough, noise)
            assert close(slope, sympy_slopes[k], rel=1e-12, absolute=1e-15), (
                *where,
                "sympy",
                sympy_slopes[k],
            )


@pytest.mark.parametrize(("name", "formula", "points"), GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_gate(name: str, formula: Callable[..., Any], points: list[Point]) -> None:
    check_gate(name, formula, points)


@pytest.mark.parametrize(
    "wrong",
    [
        {"vjp": lambda L, g, a, out: (g * -L.cos(a),)},  # a sign slip in the derivative
        {"vjp": lambda L, g, a, out: (g * (L.cos(a) * (1 + 1e-9)),)},  # off in the ninth digit
        {"forward": lambda a: math.sin(a) + 1e-12},  # a forward that is slightly off
    ],
    ids=["sign", "ninth digit", "forward"],
)
def test_the_helper_catches_a_wrong_gate(monkeypatch: pytest.MonkeyPatch, wrong: dict) -> None:
    monkeypatch.setitem(GATES, "sin", dataclasses.replace(GATES["sin"], **wrong))
    with pytest.raises(AssertionError):
        check_gate("sin", mp.sin, [(1.0,), (-2.5,)])


# --- the table is complete -------------------------------------------------------


def test_every_function_and_operator_has_a_gate_and_every_gate_a_name() -> None:
    # The parser cannot import the engine: its function list is checked against the table.
    operators = set(BINARY_GATES.values()) | set(UNARY_GATES.values())
    functions = set(FUNCTIONS) - set(ALIASES)
    assert set(GATES) == functions | operators | {"var", "const"}
    for name, gate in GATES.items():
        assert gate.name == name


def test_an_alias_names_a_gate_of_the_same_arity() -> None:
    assert ALIASES == {"ln": "log"}
    for alias, name in ALIASES.items():
        assert FUNCTIONS[alias] == FUNCTIONS[name]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_arity_matches_the_language(name: str) -> None:
    low, high = FUNCTIONS[name]
    expected = -1 if high is None else low
    assert low == high or high is None
    assert GATES[ALIASES.get(name, name)].arity == expected


def test_the_schema_op_enum_is_the_table() -> None:
    schema = json.loads((ROOT / "schema" / "eval.schema.json").read_text(encoding="utf-8"))
    ops = schema["$defs"]["op"]["enum"]
    assert len(ops) == len(set(ops))
    assert set(ops) == set(GATES)


def test_every_gate_has_explain_wording() -> None:
    assert set(FORMULAS) == {name for name, gate in GATES.items() if gate.arity != 0}


def test_every_gate_is_in_the_readme_function_list() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in FUNCTIONS:
        assert f"`{name}(" in readme, name


def test_operator_arities() -> None:
    for name in BINARY_GATES.values():
        assert GATES[name].arity == 2
    for name in UNARY_GATES.values():
        assert GATES[name].arity == 1


def test_every_gate_is_checked_above() -> None:
    tested = {case[0] for case in GATE_CASES}
    assert tested == set(GATES) - {"var", "const"}


def test_a_leaf_has_no_local_derivative_rather_than_zero() -> None:
    with pytest.raises(TypeError):
        GATES["var"].local(1.0, 1.0)


# --- kinks: PyTorch's conventions, and a note saying so ----------------------------


def test_relu_slope_at_zero_is_zero() -> None:
    relu = GATES["relu"]
    assert relu.local(0.0, 0.0) == (0.0,)
    note = relu.kink(0.0, 0.0)
    assert note is not None and "relu is not differentiable at 0" in note


def test_abs_slope_at_zero_is_zero() -> None:
    gate = GATES["abs"]
    assert gate.local(0.0, 0.0) == (0.0,)
    assert gate.local(-0.0, 0.0) == (0.0,)
    note = gate.kink(0.0, 0.0)
    assert note is not None and "abs is not differentiable at 0" in note


@pytest.mark.parametrize("name", ["max", "min"])
def test_a_tie_splits_the_gradient_evenly(name: str) -> None:
    gate = GATES[name]
    assert gate.local(1.0, 1.0, 1.0) == (0.5, 0.5)
    assert gate.local(1.0, 1.0, 1.0, 1.0) == (1 / 3, 1 / 3, 1 / 3)
    loser = -5.0 if name == "max" else 5.0
    assert gate.local(1.0, loser, 1.0, 1.0) == (0.5, 0.0, 0.5)
    note = gate.kink(1.0, 1.0, 1.0, 1.0)
    assert note is not None and "tie between 3 arguments" in note and "1/3" in note
    assert gate.kink(1.0, loser, 1.0) is None


def test_kink_notes_reach_the_result() -> None:
    relu = evaluate("relu(x)", {"x": 0.0}, check=False)
    assert relu.gradients == {"x": 0.0}
    assert any("relu is not differentiable at 0" in n for n in relu.nodes[-1].notes)

    absolute = evaluate("abs(x)", {"x": 0.0}, check=False)
    assert absolute.gradients == {"x": 0.0}
    assert any("abs is not differentiable at 0" in n for n in absolute.nodes[-1].notes)

    two = evaluate("max(x, y)", {"x": 1.0, "y": 1.0}, check=False)
    assert two.gradients == {"x": 0.5, "y": 0.5}
    assert any("tie between 2 arguments" in n for n in two.nodes[-1].notes)

    three = evaluate("min(x, y, z)", {"x": 2.0, "y": 2.0, "z": 2.0}, check=False)
    assert three.gradients == {"x": 1 / 3, "y": 1 / 3, "z": 1 / 3}
    assert any("tie between 3 arguments" in n for n in three.nodes[-1].notes)


def test_no_kink_note_away_from_kinks() -> None:
    result = evaluate("relu(x) + abs(x) + max(x, y)", {"x": 2.0, "y": 1.0}, check=False)
    assert all(not node.notes for node in result.nodes)
    assert result.gradients == {"x": 3.0, "y": 0.0}


# --- pow at the edges of its domain: PyTorch's pow_backward ---------------------------


POW_EDGES = [
    # a, b: d/da, d/db
    ((2.0, 0.0), (0.0, math.log(2.0))),  # b == 0: d/da is 0
    ((0.0, 0.0), (0.0, 0.0)),  # b == 0: d/da is 0; a == 0, b >= 0: d/db is 0
    ((0.0, 2.0), (0.0, 0.0)),  # a == 0, b >= 0: d/db is 0, not 0 * log(0)
    ((0.0, 0.5), (math.inf, 0.0)),  # the slope of sqrt at 0
    ((-2.0, 3.0), (12.0, math.nan)),  # a negative base: no real log, d/db is nan
    ((-2.0, 2.0), (-4.0, math.nan)),
]


@pytest.mark.parametrize(("point", "expected"), POW_EDGES, ids=[str(e[0]) for e in POW_EDGES])
def test_pow_local_at_domain_edges(point: Point, expected: tuple[float, float]) -> None:
    gate = GATES["pow"]
    out = gate.forward(*point)
    da, db = gate.local(*point, out)
    assert da == expected[0]
    if math.isnan(expected[1]):
        assert math.isnan(db)
    else:
        assert db == expected[1]


def test_sqrt_slope_at_zero_is_plus_infinity() -> None:
    assert GATES["sqrt"].local(0.0, 0.0) == (math.inf,)


def test_a_negative_base_gives_a_nan_exponent_gradient_with_a_note() -> None:
    result = evaluate("x^y", {"x": -2.0, "y": 2.0}, check=False)
    assert result.value == 4.0
    assert result.gradients["x"] == -4.0  # y * x**(y-1)
    y = result.nodes[1]
    assert y.text == "y" and y.grad is not None and math.isnan(y.grad)
    assert "gradient is nan" in y.notes


def test_far_out_sigmoid_and_softplus_evaluate_without_overflow() -> None:
    for x in SIDES:
        result = evaluate("sigmoid(x) + softplus(x)", {"x": x}, check=False)
        expected = 1 / (1 + mpmath.exp(-x)) + mpmath.log1p(mpmath.exp(x))
        assert close(result.value, float(expected), rel=1e-14)
        assert math.isfinite(result.gradients["x"])


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
@pytest.mark.parametrize("x", [19.5, -25.0, 40.0, -300.0, 350.0])
def test_far_out_slopes_keep_their_digits(name: str, x: float) -> None:
    # Where the output rounds to +-1 (or 0 and 1), a slope taken from the
    # output (1 - out**2, out*(1 - out)) is 0; the true slope is tiny but a
    # normal float, and it must come out to full precision.
    formula = {case[0]: case[1] for case in GATE_CASES}[name]
    slope = GATES[name].local(x, GATES[name].forward(x))[0]
    expected = precise_slope(formula, (x,), 0)
    assert expected != 0.0
    assert close(slope, expected, rel=1e-14), (name, x, slope, expected)


def test_a_tiny_sigmoid_slope_times_a_huge_weight() -> None:
    # d/dx sigmoid(x) * 1e30 at x = 40 is 1e30 * e^-40 / (1 + e^-40)^2.
    with mp.workdps(50):
        e = mp.exp(-40)
        expected = float(mp.mpf("1e30") * e / (1 + e) ** 2)
    result = evaluate("sigmoid(x)*1e30", {"x": 40.0})
    assert close(result.gradients["x"], expected, rel=1e-14)
    assert check_exit_code(result.check.status) == 0


# --- the new gates at their edges ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "x", "message", "call"),
    [
        ("2*log1p(x) + 1", -1.0, "log1p needs an argument greater than -1, got -1.0", "log1p(x)"),
        ("log1p(x - 1)", -2.0, "log1p needs an argument greater than -1, got -3.0", "log1p(x - 1)"),
        ("log2(x)", 0.0, "log2 needs a positive argument, got 0.0", "log2(x)"),
        ("1 + log10(x*x - 1)", 1.0, "log10 needs a positive argument, got 0.0", "log10(x*x - 1)"),
        ("ln(x)", -1.0, "log needs a positive argument, got -1.0", "ln(x)"),
        (
            "expm1(x)",
            1000.0,
            "expm1 overflows at (1000.0): the value is too large for a float",
            "expm1(x)",
        ),
    ],
)
def test_a_domain_error_names_the_gate_and_points_at_the_call(
    source: str, x: float, message: str, call: str
) -> None:
    done = run("eval", source, "--at", f"x={x!r}", expect=2)
    lines = done.stderr.splitlines()
    assert done.stdout == ""
    assert lines[0] == f"error: {message}", lines
    # The caret line underlines exactly the call, under the echoed source.
    start = source.index(call)
    assert lines[1] == f"  {source}"
    assert lines[2] == "  " + " " * start + "^" * len(call)


def test_ln_is_the_log_gate_under_its_own_text() -> None:
    result = evaluate("ln(x) + log(x)", {"x": 2.0}, check=False)
    ln, log = result.nodes[1], result.nodes[2]
    assert (ln.op, ln.text) == ("log", "ln(x)")
    assert (log.op, log.text) == ("log", "log(x)")
    assert result.value == 2 * math.log(2.0)
    assert result.gradients == {"x": 1.0}  # 1/2 + 1/2


def test_atan2_at_the_origin_is_zero_with_nan_slopes_and_a_note() -> None:
    # PyTorch's atan2_backward: x * (1/(x^2 + y^2)) = 0 * inf = nan at (0, 0).
    gate = GATES["atan2"]
    assert gate.forward(0.0, 0.0) == 0.0
    dy, dx = gate.local(0.0, 0.0, 0.0)
    assert math.isnan(dy) and math.isnan(dx)
    note = gate.kink(0.0, 0.0, 0.0)
    assert note is not None and "atan2 is not differentiable at (0, 0)" in note
    assert gate.kink(0.0, 1.0, 0.0) is None
    result = evaluate("atan2(y, x)", {"x": 0.0, "y": 0.0})
    assert result.value == 0.0
    assert all(math.isnan(g) for g in result.gradients.values())
    assert result.check.status == "n/a"  # the kink: not a failure (exit 0)
    assert check_exit_code(result.check.status) == 0
    # The inputs' gradients pass the kink; the output's own (1) does not.
    assert [n.verdict for n in result.nodes] == ["n/a", "n/a", "ok"]


def test_hypot_at_the_origin_has_slopes_zero_and_a_note() -> None:
    gate = GATES["hypot"]
    assert gate.local(0.0, 0.0, 0.0) == (0.0, 0.0)
    note = gate.kink(0.0, 0.0, 0.0)
    assert note is not None and "hypot is not differentiable at (0, 0)" in note
    assert gate.kink(0.0, 2.0, 2.0) is None
    result = evaluate("hypot(x, y)", {"x": 0.0, "y": 0.0})
    assert result.gradients == {"x": 0.0, "y": 0.0}
    assert any("hypot is not differentiable" in n for n in result.nodes[-1].notes)


FAR_OUT = [
    # gate, point, the exact slopes in 60-digit arithmetic
    ("erf", (5.0,), lambda a: [2 / mp.sqrt(mp.pi) * mp.exp(-a * a)]),
    ("erf", (-20.0,), lambda a: [2 / mp.sqrt(mp.pi) * mp.exp(-a * a)]),
    ("erf", (26.5,), lambda a: [2 / mp.sqrt(mp.pi) * mp.exp(-a * a)]),
    ("log1p", (1e-30,), lambda a: [1 / (1 + a)]),
    ("log1p", (-0.9999999999,), lambda a: [1 / (1 + a)]),
    ("expm1", (-700.0,), lambda a: [mp.exp(a)]),
    ("log2", (1e-300,), lambda a: [1 / (a * mp.log(2))]),
    ("log10", (3e-308,), lambda a: [1 / (a * mp.log(10))]),
    ("atan2", (1e300, -3e300), lambda y, x: [x / (x * x + y * y), -y / (x * x + y * y)]),
    ("atan2", (2e-300, 1e-300), lambda y, x: [x / (x * x + y * y), -y / (x * x + y * y)]),
    ("hypot", (1e-300, -3e-300), lambda a, b: [a / mp.hypot(a, b), b / mp.hypot(a, b)]),
    ("hypot", (1e300, 1e290), lambda a, b: [a / mp.hypot(a, b), b / mp.hypot(a, b)]),
    # out = 1e10 + 1.31...: a slope written with out (exp(a - out)) would be off by 1e-6
    ("logsumexp", (1e10, 1e10 + 1), lambda a, b: [mp.exp(a) / (mp.exp(a) + mp.exp(b)),
                                                   mp.exp(b) / (mp.exp(a) + mp.exp(b))]),
    ("logsumexp", (-700.0, 0.0, 1.0), lambda *a: [mp.exp(x) / mp.fsum(map(mp.exp, a)) for x in a]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "point", "exact"), FAR_OUT, ids=[f"{c[0]}{c[1]}" for c in FAR_OUT]
)
def test_far_out_local_derivatives_keep_their_digits(
    name: str, point: Point, exact: Callable[..., list[Any]]
) -> None:
    gate = GATES[name]
    local = gate.local(*point, gate.forward(*point))
    with mp.workdps(60):
        expected = [float(e) for e in exact(*[mp.mpf(x) for x in point])]
    for ours, theirs in zip(local, expected):
        assert theirs != 0.0 and math.isfinite(theirs)
        assert close(ours, theirs, rel=4e-16 * 4), (name, point, ours, theirs)


def test_logsumexp_is_stable_far_out() -> None:
    gate = GATES["logsumexp"]
    assert gate.forward(1000.0, 1000.0) == 1000.0 + math.log(2.0)
    assert gate.forward(-1000.0, -1000.0, -1000.0) == -1000.0 + math.log(3.0)
    assert gate.forward(800.0, -800.0) == 800.0
    assert gate.local(1000.0, 1000.0, 0.0) == (0.5, 0.5)


# --- every gate, of any arity, gets the gate-by-gate check ---------------------------------

# One step of a chain that calls every new gate, of every arity, on the running value h.
EVERY_NEW_GATE = (
    "h = tanh(0.5*h + 0.01*(log1p(x*x) + expm1(y/4) + log2(2 + h*h) + log10(3 + x*x) + erf(h)"
    " + ln(2 + y*y) + atan2(y, x + h) + hypot(h, y) + logsumexp(h, x) + logsumexp(h, x, y)"
    " + logsumexp(h, y, x, 0.5) + max(h, x, y) + min(h, y)))\n"
)


def test_every_gate_of_any_arity_is_checked_gate_by_gate() -> None:
    # Over the adjoint check's node limit, so every gradient is checked gate by
    # gate (a two-argument gate used to leave 1,802 of 2,402 nodes "not checked").
    from backprop.engine.check import EXPRESSION_LIMIT

    source = "h = x\n" + EVERY_NEW_GATE * 50 + "h"
    result = evaluate(source, {"x": 0.7, "y": -1.3}, check_seconds=120.0)
    assert len(result.nodes) > EXPRESSION_LIMIT
    ops = {node.op for node in result.nodes}
    assert {"log1p", "expm1", "log2", "log10", "erf", "atan2", "hypot", "logsumexp"} <= ops
    arities = {len(n.inputs) for n in result.nodes if n.op == "logsumexp"}
    assert arities == {2, 3, 4}
    checked = [n for n in result.nodes if n.grad is not None]
    assert all(n.verdict == "ok" and n.check == "local" for n in checked), {
        (n.op, n.verdict, n.reason) for n in checked if n.verdict != "ok"
    }
    assert result.check.status == "ok"


def test_a_gate_the_check_cannot_evaluate_is_named_in_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # erfc has no counterpart in the evaluator: the nodes whose gradient passes
    # through erf say so, instead of the whole gate-by-gate pass going silent.
    table = dict(GATES)
    table["erf"] = dataclasses.replace(GATES["erf"], sympy=lambda sp, a: 1 - sp.erfc(a))
    source = (
        "h = x*y\n"
        + "h = sin(h)*0.9 + 0.1\n" * 120
        + "h = erf(h) + x\n"
        + "h = cos(h)*0.5\n" * 20
        + "h"
    )
    result = evaluate(source, {"x": 0.5, "y": 2.0}, gates=table, check_seconds=120.0)
    erf = next(n for n in result.nodes if n.op == "erf")
    below = [n for n in result.nodes if n.id < erf.id and n.grad is not None and n.op != "var"]
    above = [n for n in result.nodes if n.id >= erf.id and n.grad is not None]
    assert below and above
    for node in below:
        assert node.verdict == "not checked"
        assert node.reason == "the gate-by-gate check cannot evaluate erf"
    assert all(n.verdict == "ok" for n in above)


@pytest.mark.parametrize("name", sorted(n for n, g in GATES.items() if g.arity != 0))
def test_the_gate_by_gate_check_can_evaluate_every_gate(name: str) -> None:
    # A gate the evaluator cannot compile would leave the nodes behind it "not checked".
    from backprop.engine.check import PRECISION_BITS, _Evaluator

    context = mpmath.MPContext()
    context.prec = PRECISION_BITS
    evaluator = _Evaluator(sympy, context)
    arity = GATES[name].arity
    for count in [arity] if arity > 0 else [2, 3, 4]:
        rule = evaluator.rule(GATES[name], count)
        assert rule is not None, (name, count)
        assert len(rule.locals) == count
