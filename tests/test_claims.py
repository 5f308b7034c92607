"""`backprop check`: verdicts on claimed derivatives, their JSON, errors and exit codes.

The true derivative of x*sin(x)/(1+x^2) used below is derived by hand with the
quotient rule: ((sin x + x cos x)(1 + x^2) - 2x^2 sin x) / (1 + x^2)^2.
"""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from backprop.engine.claims import check_claims, claims_from_options
from clirun import ROOT, run

SCHEMA = json.loads((ROOT / "schema" / "check.schema.json").read_text(encoding="utf-8"))
PROGRAM = "x*sin(x)/(1+x^2)"
CORRECT = "x=(sin(x) + x*cos(x))/(1+x^2) - 2*x^2*sin(x)/(1+x^2)^2"
WRONG_SIGN = "x=-(sin(x) + x*cos(x))/(1+x^2) + 2*x^2*sin(x)/(1+x^2)^2"
DROPPED_TERM = "x=(sin(x) + x*cos(x))/(1+x^2)"
DENOMINATOR_NOT_SQUARED = "x=((sin(x) + x*cos(x))*(1+x^2) - 2*x^2*sin(x))/(1+x^2)"


def true_derivative(x: float) -> float:
    return ((math.sin(x) + x * math.cos(x)) * (1 + x * x) - 2 * x * x * math.sin(x)) / (
        1 + x * x
    ) ** 2


def check_json(*args: str, expect: int = 0) -> dict:
    done = run("check", *args, "--json", expect=expect)
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_correct_claim_is_proved_and_agrees_everywhere() -> None:
    doc = check_json(PROGRAM, "--claim", CORRECT)
    (claim,) = doc["claims"]
    assert claim["verdict"] == "correct" and doc["status"] == "correct"
    assert claim["points"] == 20 and claim["counterexample"] is None
    assert claim["proof"] is not None
    assert claim["difference"] is None


def test_three_wrong_claims_are_caught_and_classified() -> None:
    doc = check_json(
        PROGRAM,
        "--claim",
        WRONG_SIGN,
        "--claim",
        DROPPED_TERM,
        "--claim",
        DENOMINATOR_NOT_SQUARED,
        expect=1,
    )
    kinds = [c["difference"] for c in doc["claims"]]
    assert [c["verdict"] for c in doc["claims"]] == ["wrong"] * 3
    assert kinds == ["sign", "term", "missing factor"]
    assert doc["claims"][2]["detail"] == "the claim has an extra factor 1 + x^2"
    sign = doc["claims"][0]["counterexample"]
    x = sign["at"]["x"]
    assert math.isclose(sign["true"], true_derivative(x), rel_tol=1e-12)
    assert math.isclose(sign["claimed"], -true_derivative(x), rel_tol=1e-12)
    assert math.isclose(sign["relative_error"], 2.0, rel_tol=1e-12)
    dropped = doc["claims"][1]["counterexample"]
    x = dropped["at"]["x"]
    claimed = (math.sin(x) + x * math.cos(x)) / (1 + x * x)
    assert math.isclose(dropped["claimed"], claimed, rel_tol=1e-12)
    # The derivative is printed as `backprop grad --simplify` prints it.
    grad = run("grad", PROGRAM, "--simplify").stdout.splitlines()[-1]
    assert grad == f"d_x = {doc['claims'][0]['derivative']}"


def test_the_table_names_each_verdict_and_how_a_claim_differs() -> None:
    done = run("check", PROGRAM, "--claim", CORRECT, "--claim", WRONG_SIGN, expect=1)
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["#", "wrt", "verdict", "points", "difference", "claim"]
    assert lines[1].split()[:4] == ["1", "x", "correct", "20"]
    assert lines[2].split()[:5] == ["2", "x", "wrong", "1", "sign"]
    assert "2. d_x: wrong: the claim has the wrong sign" in done.stdout
    assert "   differs at x = " in done.stdout and "relative error 2" in done.stdout
    assert "   the derivative: d_x = " in done.stdout
    assert lines[-1] == "status  wrong (1 correct, 1 wrong)"
    assert done.stderr == ""


def test_the_same_seed_gives_the_same_points_and_another_seed_others() -> None:
    first = check_json(PROGRAM, "--claim", WRONG_SIGN, "--seed", "5", expect=1)
    again = check_json(PROGRAM, "--claim", WRONG_SIGN, "--seed", "5", expect=1)
    other = check_json(PROGRAM, "--claim", WRONG_SIGN, "--seed", "6", expect=1)
    assert first == again
    at = first["claims"][0]["counterexample"]["at"]
    assert at != other["claims"][0]["counterexample"]["at"]


def test_the_given_point_is_judged_first() -> None:
    doc = check_json(PROGRAM, "--claim", WRONG_SIGN, "--at", "x=0.5", expect=1)
    assert doc["at"] == {"x": 0.5}
    assert doc["claims"][0]["counterexample"]["at"] == {"x": 0.5}
    assert math.isclose(doc["claims"][0]["counterexample"]["true"], true_derivative(0.5))


def test_x_over_abs_x_is_judged_with_the_undefined_point_counted() -> None:
    # abs'(x) = x/|x| except at 0, where the claim is 0/0: counted, never a crash.
    doc = check_json("abs(x)", "--claim", "x=x/abs(x)", "--at", "x=0")
    (claim,) = doc["claims"]
    assert claim["verdict"] in ("correct", "agrees")
    assert claim["replaced"] == {"claim undefined": 1}
    assert claim["points"] == 20


def test_points_where_the_program_is_undefined_are_replaced() -> None:
    doc = check_json("log(x)", "--claim", "x=1/x")
    (claim,) = doc["claims"]
    assert claim["verdict"] == "correct" and claim["points"] == 20
    assert claim["replaced"]["program undefined"] > 0  # about half the draws are negative


def test_a_claim_that_cannot_be_evaluated_is_undecided() -> None:
    # sqrt(-x) is defined only at x <= 0, the program only at x >= 0, and at 0 the
    # derivative is infinite: no point can judge it.
    doc = check_json("sqrt(x)", "--claim", "x=0.5/sqrt(x) + sqrt(-x)", expect=1)
    (claim,) = doc["claims"]
    assert claim["verdict"] == "undecided" and claim["points"] == 0
    assert doc["status"] == "undecided"


def test_claims_may_use_the_names_the_program_assigns() -> None:
    doc = check_json("-f", "samples/tanh_neuron.bp", "--claim", "w1=x1*(1 - tanh(n)^2)")
    assert doc["at"] == {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    (claim,) = doc["claims"]
    assert claim["verdict"] == "correct" and claim["points"] == 21  # the '# at:' point too


def test_a_claims_file_may_be_backprop_grads_own_output() -> None:
    grad = run("grad", "x*sin(x)", "--wrt", "x").stdout
    done = run("check", "x*sin(x)", "--claims", "-", "--samples", "5", "--json", stdin=grad)
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert [c["verdict"] for c in doc["claims"]] == ["correct"]


def test_a_claims_file_of_d_name_statements() -> None:
    text = "# my answers\nd_x = y\nd_y = x + 1\n"
    done = run("check", "x*y", "--claims", "-", "--json", stdin=text, expect=1)
    doc = json.loads(done.stdout)
    assert [(c["wrt"], c["verdict"]) for c in doc["claims"]] == [
        ("x", "correct"),
        ("y", "wrong"),
    ]
    assert doc["claims"][1]["difference"] == "term"


def test_a_syntax_error_in_a_claim_points_into_the_claim() -> None:
    done = run("check", "x*sin(x)", "--claim", "x=sin(x) + x*cos(x", expect=2)
    assert done.stderr == (
        "error: in the claim for x: expected ')' to close the call of cos at column 14, "
        "found end of input\n"
        "  x=sin(x) + x*cos(x\n"
        "                    ^\n"
    )
    assert done.stdout == ""


def test_a_claim_for_a_name_that_is_not_an_input_is_bad_input() -> None:
    done = run("check", "x*sin(x)", "--claim", "y=cos(x)", "--json", expect=2)
    assert json.loads(done.stdout)["error"]["kind"] == "name"
    assert done.stderr.startswith("error: a claim for y, which is not an input of the program")
    assert "inputs are: x" in done.stderr


def test_a_claims_file_names_its_bad_line() -> None:
    done = run("check", "x*sin(x)", "--claims", "-", stdin="d_x = cos(x)\nd_q = 1\n", expect=2)
    assert "a claim for q, which is not an input" in done.stderr
    assert "line 2 | d_q = 1" in done.stderr


def test_an_unknown_name_in_a_claim_is_bad_input() -> None:
    done = run("check", "h = tanh(w*x); h*h", "--claim", "x=cos(z)", expect=2)
    assert "reads z, which the program does not define" in done.stderr
    assert "the names it assigns (h)" in done.stderr
    assert done.stderr.splitlines()[-1] == "        ^"


def test_usage_errors() -> None:
    assert "give claims" in run("check", "x", expect=2).stderr
    done = run("check", "x*x", "--claim", "x=2*x", "--samples", "0", expect=2)
    assert "--samples 0" in done.stderr


def test_check_fd_compares_each_claim_with_a_finite_difference() -> None:
    doc = check_json(PROGRAM, "--claim", CORRECT, "--claim", WRONG_SIGN, "--fd", expect=1)
    good, wrong = doc["claims"]
    assert good["fd_verdict"] == "good" and wrong["fd_verdict"] == "wrong"
    x = good["fd_at"]["x"]
    assert math.isclose(good["fd"], true_derivative(x), rel_tol=1e-9)
    done = run("check", PROGRAM, "--claim", CORRECT, "--fd")
    assert "   finite difference at x = " in done.stdout and "(good, relative error" in done.stdout


def test_check_is_listed_in_the_help() -> None:
    assert "check" in run("--help").stdout
    assert "Examples:" in run("check", "--help").stdout


@pytest.mark.parametrize(
    "claim, kind",
    [
        ("x=cos(x^2)", "missing factor"),  # the chain rule's inner derivative 2x
        ("x=2*cos(x^2)", None),
        ("x=-2*x*cos(x^2)", "sign"),
        ("x=x*cos(x^2)", "factor"),
    ],
)
def test_the_chain_rule_factor(claim: str, kind: str | None) -> None:
    report = check_claims("sin(x^2)", claims_from_options([claim]), samples=5)
    (result,) = report.claims
    assert result.verdict == "wrong"
    if kind is not None:
        assert result.difference == kind
    if kind == "missing factor":
        assert "inner derivative" in result.detail and "2*x" in result.detail
