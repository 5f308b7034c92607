"""`eval --digits N`: the passes in N significant digits (mpmath), held to
mpmath's own high-precision evaluation of formulas written out here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import mpmath
import pytest
from backprop.engine import evaluate
from clirun import ROOT, run

SCHEMA = json.loads((ROOT / "schema" / "eval.schema.json").read_text(encoding="utf-8"))


def reference(formula, x: float, digits: int = 80) -> tuple[mpmath.mpf, mpmath.mpf]:  # type: ignore[no-untyped-def]
    with mpmath.workdps(digits):
        at = mpmath.mpf(x)  # the input is the float it was given as
        return formula(at), mpmath.diff(formula, at)


def agree(text: str, exact: mpmath.mpf, digits: int) -> bool:
    with mpmath.workdps(digits + 20):
        return abs(mpmath.mpf(text) - exact) <= abs(exact) * mpmath.mpf(10) ** (1 - digits)


def test_cancellation_gets_the_true_gradient() -> None:
    # float64 gives -0.00828 (every digit lost); 30 digits give the true -8.333e-07.
    def f(x):  # type: ignore[no-untyped-def]
        return (1 - mpmath.cos(x)) / x**2

    value, slope = reference(f, 1e-5)
    result = evaluate("(1-cos(x))/x^2", {"x": 1e-5}, digits=30)
    assert agree(result.value_exact, value, 30)
    assert agree(result.gradients_exact["x"], slope, 30)
    assert result.gradients["x"] == pytest.approx(-8.333333333277779e-07, rel=1e-15)
    assert result.check.status == "ok"


@pytest.mark.parametrize("digits", [16, 50, 200])
def test_the_perceptron_in_many_digits(digits: int) -> None:
    def f(w0):  # type: ignore[no-untyped-def]
        return 1 / (1 + mpmath.exp(-(w0 * -1 + -3 * -2 + -3)))

    value, slope = reference(f, 2.0, digits + 40)
    point = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
    result = evaluate("1/(1+exp(-(w0*x0+w1*x1+w2)))", point, digits=digits)
    assert agree(result.value_exact, value, digits)
    assert agree(result.gradients_exact["w0"], slope, digits)


def test_literals_are_the_decimals_written() -> None:
    # 0.1 is one tenth, not the float nearest it: 3 * 0.1 is 0.3 exactly.
    result = evaluate("x*0.1*3", {"x": 1.0}, digits=40)
    assert result.value_exact == "0.3"
    assert evaluate("x*0.1*3", {"x": 1.0}).value == 0.30000000000000004


def test_json_carries_the_exact_strings_and_stays_valid() -> None:
    done = run("eval", "(1-cos(x))/x^2", "--at", "x=1e-5", "--digits", "30", "--json")
    document = json.loads(done.stdout)
    jsonschema.validate(document, SCHEMA)
    assert document["digits"] == 30
    assert document["gradients_exact"]["x"].startswith("-8.33333333327777845947")
    assert isinstance(document["gradients"]["x"], float)
    for node in document["nodes"]:
        assert isinstance(node["value_exact"], str)


def test_the_table_shows_the_digits() -> None:
    done = run("eval", "(1-cos(x))/x^2", "--at", "x=1e-5", "--digits", "20")
    assert "-8.3333333332777784595e-7" in done.stdout
    assert "check   sympy: ok" in done.stdout


def test_digits_out_of_range_is_a_usage_error() -> None:
    run("eval", "x", "--at", "x=1", "--digits", "15", expect=2)
    run("eval", "x", "--at", "x=1", "--digits", "1001", expect=2)


def test_no_digits_imports_no_mpmath() -> None:
    code = (
        "import sys; from backprop.engine import evaluate; "
        "evaluate('x*x', {'x': 2.0}, check=False); "
        "print('mpmath' in sys.modules, 'backprop.engine.check' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"  # nor the check's module, without the check
    assert Path(ROOT / "engine" / "exact.py").exists()


@pytest.mark.parametrize(("op", "base"), [("log2", 2), ("log10", 10)])
def test_logarithms_to_a_base_in_many_digits(op: str, base: int) -> None:
    result = evaluate(f"{op}(x)", {"x": 3.0}, digits=30)
    with mpmath.workdps(60):
        expected = 1 / (3 * mpmath.log(base))
    assert agree(result.gradients_exact["x"], expected, 30)


# --- explain and grad in N digits ---------------------------------------------------------------


def _cancellation() -> tuple[mpmath.mpf, mpmath.mpf]:
    def f(x):  # type: ignore[no-untyped-def]
        return (1 - mpmath.cos(x)) / x**2

    return reference(f, 1e-5)


def test_explain_walks_through_in_n_digits() -> None:
    value, slope = _cancellation()
    out = run("explain", "(1-cos(x))/x^2", "--at", "x=1e-5", "--digits", "30").stdout
    assert "worked in 30 significant digits" in out
    # The last line adds the two paths into x: their sum is the true slope in 30 digits.
    total = out.rstrip().splitlines()[-1].split(" = ")[-1].split()[0]
    assert agree(total, slope, 30)
    # Float64 loses every digit here: the float walk-through says -0.00828...
    plain = run("explain", "(1-cos(x))/x^2", "--at", "x=1e-5", "--precision", "3").stdout
    assert plain.rstrip().splitlines()[-1].split(" = ")[-1].split()[0] == "-0.00828"


def test_explain_json_in_n_digits_keeps_floats_and_adds_decimals() -> None:
    value, slope = _cancellation()
    doc = json.loads(
        run("explain", "(1-cos(x))/x^2", "--at", "x=1e-5", "--digits", "25", "--json").stdout
    )
    assert doc["digits"] == 25
    assert agree(doc["value_exact"], value, 25) and agree(doc["gradients_exact"]["x"], slope, 25)
    assert doc["gradients"]["x"] == float(doc["gradients_exact"]["x"])
    step = doc["backward"][0]
    assert isinstance(step["sends"][0]["local"], float)
    assert isinstance(step["sends"][0]["local_exact"], str)
    # The steps read the same N-digit passes as eval --digits.
    evaluated = evaluate("(1-cos(x))/x^2", {"x": 1e-5}, digits=25, check=False)
    assert doc["gradients_exact"]["x"] == evaluated.gradients_exact["x"]


def test_explain_in_n_digits_at_a_flat_gate_sends_nothing() -> None:
    doc = json.loads(
        run("explain", "sqrt(relu(x))", "--at", "x=-1", "--digits", "20", "--json").stdout
    )
    (send,) = doc["backward"][1]["sends"]
    assert send["flat"] is True and send["grad"] == 0.0
    assert doc["gradients"] == {"x": 0.0}


def test_grad_evaluates_its_printed_program_in_n_digits() -> None:
    value, slope = _cancellation()
    out = run("grad", "(1-cos(x))/x^2", "--at", "x=1e-5", "--digits", "30").stdout
    assert "# At x = 1e-05, in 30 significant digits:" in out
    shown = out.rstrip().splitlines()[-1].split("= ")[-1]
    assert agree(shown, slope, 30)
    doc = json.loads(run("grad", "-f", "samples/perceptron.bp", "--digits", "40", "--json").stdout)
    assert doc["digits"] == 40 and doc["at"]["w0"] == 2.0

    def f(w0):  # type: ignore[no-untyped-def]
        return 1 / (1 + mpmath.exp(-(w0 * -1 + -3 * -2 + -3)))

    assert agree(doc["values"]["w0"], reference(f, 2.0, 80)[1], 40)


def test_grad_at_needs_digits() -> None:
    out = run("grad", "x*x", "--at", "x=1", expect=2)
    assert "--digits" in out.stderr
