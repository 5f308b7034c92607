"""Finite differences (`eval --fd`): a third opinion, in bands, with kinks reported as kinks.

Expected numbers come from the tutorial (the perceptron's gradients), from
hand derivation (relu, abs and max at their kinks) and from exact algebra on
the stencil (x^3 + x^2 at 0).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from backprop.engine import evaluate
from backprop.engine.errors import DomainError, NumericError
from backprop.engine.fd import band, relative_error, step_for
from backprop.engine.gates import GATES
from clirun import ROOT, run

SCHEMA = json.loads((ROOT / "schema" / "eval.schema.json").read_text(encoding="utf-8"))
CORPUS = json.loads((Path(__file__).parent / "data" / "claims_corpus.json").read_text())
PERCEPTRON = {  # the tutorial's gradients (SPEC, "Numbers every user will try first")
    "w0": -0.19661193324148185,
    "x0": 0.3932238664829637,
    "w1": -0.3932238664829637,
    "x1": -0.5898357997244456,
    "w2": 0.19661193324148185,
}


def fd_of(program: str, **at: float) -> dict:
    return evaluate(program, at, check=False, fd=True).fd or {}


def test_step_is_the_power_of_two_nearest_cbrt_eps_times_scale() -> None:
    # cbrt(2**-52) = 2**-17.33: 2**-17 below |x| = 1; at x = 3, 2**-15.75 rounds to 2**-16.
    assert step_for(0.5) == 2.0**-17
    assert step_for(-1.0) == 2.0**-17
    assert step_for(3.0) == 2.0**-16
    assert step_for(1000.0) == 2.0**-7  # 6.06e-6 * 1000 = 2**-7.37


def test_bands_are_cs231ns() -> None:
    assert [band(e) for e in (9e-8, 2e-7, 5e-5, 5e-3, 0.02)] == [
        "good",
        "fine",
        "fine",
        "uneasy",
        "wrong",
    ]
    assert relative_error(2.0, 1.0) == 0.5
    assert relative_error(0.0, 0.0) == 0.0


def test_perceptron_finite_differences_agree_with_the_tutorial() -> None:
    found = fd_of("1/(1+exp(-(w0*x0+w1*x1+w2)))", w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
    for name, expected in PERCEPTRON.items():
        assert math.isclose(found[name].value, expected, rel_tol=1e-9), name
        assert found[name].verdict == "good"
        assert found[name].relative_error < 1e-7


@pytest.mark.parametrize(
    "program, at, left, right",
    [
        ("relu(x)", {"x": 0.0}, 0.0, 1.0),
        ("abs(x)", {"x": 0.0}, -1.0, 1.0),
        ("max(x, y)", {"x": 1.0, "y": 1.0}, 0.0, 1.0),
        ("3*relu(2*x) + x", {"x": 0.0}, 1.0, 7.0),
    ],
)
def test_a_kink_gives_the_left_and_right_differences(
    program: str, at: dict, left: float, right: float
) -> None:
    fd = fd_of(program, **at)["x"]
    assert fd.verdict == "kink"
    assert fd.value is None and fd.relative_error is None
    assert math.isclose(fd.left, left, abs_tol=1e-9)
    assert math.isclose(fd.right, right, abs_tol=1e-9)
    assert "not defined" in fd.note


def test_a_flat_direction_through_a_kinked_gate_is_no_kink() -> None:
    # relu(x*y) at x = 0: moving y keeps x*y = 0, so d/dy is 0 on both sides.
    found = fd_of("relu(x*y)", x=0.0, y=1.0)
    assert found["x"].verdict == "kink"
    assert found["y"].verdict == "good" and found["y"].value == 0.0


def test_near_a_kink_the_smooth_side_is_used() -> None:
    # abs at 1e-9: the central stencil straddles 0, the derivative there is 1.
    fd = fd_of("abs(x)", x=1e-9)["x"]
    assert fd.verdict == "good"
    assert math.isclose(fd.value, 1.0, rel_tol=1e-9)
    assert "one-sided" in fd.note


def test_fourth_order_difference_is_exact_on_a_cubic() -> None:
    # (8 (f(h) - f(-h)) - (f(2h) - f(-2h))) / 12h for x^3 + x^2 at 0: 16h^3 - 16h^3 = 0.
    fd = fd_of("x^3 + x^2", x=0.0)["x"]
    assert fd.value == 0.0 and fd.verdict == "good"


def test_a_pole_within_the_step_is_uneasy_not_wrong() -> None:
    fd = fd_of("1/x", x=1e-5)["x"]
    assert fd.verdict == "uneasy"
    assert "unreliable" in fd.note


def test_a_wrong_rule_is_caught_by_the_finite_difference() -> None:
    # sin's rule with the wrong sign: the engine says -cos(x), the function says cos(x).
    broken = dict(GATES)
    broken["sin"] = replace(GATES["sin"], vjp=lambda L, g, a, out: (g * -L.cos(a),))
    result = evaluate("sin(x)", {"x": 0.5}, check=False, gates=broken, fd=True)
    assert result.fd is not None
    fd = result.fd["x"]
    assert fd.verdict == "wrong"
    assert math.isclose(fd.value, math.cos(0.5), rel_tol=1e-9)
    assert math.isclose(fd.relative_error, 2.0, rel_tol=1e-6)


def test_an_infinite_gradient_is_not_compared() -> None:
    fd = fd_of("sqrt(x)", x=0.0)["x"]
    assert fd.verdict is None and "inf" in fd.note


def test_eval_fd_table_and_json() -> None:
    done = run("eval", "relu(x)", "--at", "x=0", "--fd")
    header = done.stdout.splitlines()[0].split()
    assert header[-3:] == ["fd", "fd", "check"]  # the column "fd check"
    assert "x  kink: left 0.0, right 1.0; x is at a kink" in done.stdout
    doc = json.loads(run("eval", "relu(x)", "--at", "x=0", "--fd", "--json").stdout)
    jsonschema.validate(doc, SCHEMA)
    x = doc["nodes"][0]
    assert (x["fd"], x["fd_verdict"], x["fd_left"], x["fd_right"]) == (None, "kink", 0.0, 1.0)
    assert x["fd_step"] == 2.0**-17
    assert "fd" not in doc["nodes"][1]  # only inputs have one


def test_eval_fd_json_on_the_perceptron_validates() -> None:
    doc = json.loads(run("eval", "-f", "samples/perceptron.bp", "--fd", "--json").stdout)
    jsonschema.validate(doc, SCHEMA)
    verdicts = {n["text"]: n["fd_verdict"] for n in doc["nodes"] if n["op"] == "var"}
    assert verdicts == dict.fromkeys(PERCEPTRON, "good")


WHICH_MODULES = """
import sys
from backprop.cli.main import main
sys.argv = ["backprop", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    code = done.code
sys.stderr.write("sympy imported: %s\\n" % ("sympy" in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args, imported",
    [
        (["eval", "x*y", "--at", "x=1,y=2", "--fd", "--no-check"], False),
        (["check", "x*y", "--claim", "x=y", "--samples", "2"], True),
    ],
)
def test_fd_needs_no_sympy_and_check_does(args: list[str], imported: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WHICH_MODULES, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"sympy imported: {imported}\n"


def _points(program: str, wrt: str, count: int) -> list[dict[str, float]]:
    """Seeded random points where the program is defined."""
    from backprop.engine.build import build_graph
    from backprop.parser import parse

    names = list(build_graph(parse(program)).inputs)
    rng = random.Random(7)
    found = []
    for _ in range(200):
        at = {n: rng.uniform(-3, 3) for n in names}
        try:
            evaluate(program, at, check=False)
        except (DomainError, NumericError):
            continue
        found.append(at)
        if len(found) == count:
            break
    return found


@pytest.mark.parametrize("entry", CORPUS["entries"], ids=lambda e: e["program"][:30])
def test_fd_on_the_corpus_agrees_at_smooth_points(entry: dict) -> None:
    for at in _points(entry["program"], entry["wrt"], 3):
        result = evaluate(entry["program"], at, check=False, fd=True)
        assert result.fd is not None
        for name, fd in result.fd.items():
            assert fd.verdict in ("good", "fine"), (name, at, fd)


# The real entry point with sin's rule broken (the wrong sign), in a fresh interpreter.
BROKEN_SIN = """
import sys
from dataclasses import replace
from backprop.engine.gates import GATES
GATES["sin"] = replace(GATES["sin"], vjp=lambda L, g, a, out: (g * -L.cos(a),))
from backprop.cli.main import main
sys.argv = ["backprop", *sys.argv[1:]]
main()
"""


def test_eval_fd_exits_1_when_the_finite_difference_says_wrong() -> None:
    args = ["eval", "sin(x)", "--at", "x=0.5", "--fd", "--no-check"]
    done = subprocess.run(
        [sys.executable, "-c", BROKEN_SIN, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1, done.stderr
    assert "(wrong, relative error 2)" in done.stdout
    fine = subprocess.run(
        [sys.executable, "-m", "backprop", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert fine.returncode == 0 and "(good, relative error" in fine.stdout
