"""Regressions found by a QA pass over `check`, `eval --fd`, `hessian`, forward mode,
several outputs and `grad --order`.

Expected numbers are derived by hand in the comments (or from `math` directly),
never from the code under test.
"""

from __future__ import annotations

import json
import math

from backprop.engine import evaluate
from clirun import run


def fd_of(program: str, **at: float) -> dict:
    return evaluate(program, at, check=False, fd=True).fd or {}


# --- eval --fd: a finite difference that disagrees with itself cannot call a gradient wrong


def test_fd_near_the_edge_of_the_domain_is_not_a_wrong_gradient() -> None:
    # d/dx log(x) at 1e-10 is 1e10, as the engine says; the step (2^-17, about 7.6e-6) is
    # 76,000 times x, so the one-sided differences are far off and disagree with each other.
    fd = fd_of("log(x)", x=1e-10)["x"]
    assert fd.verdict == "uneasy"
    assert "unreliable" in fd.note
    fd = fd_of("sqrt(x)", x=1e-300)["x"]  # 1/(2 sqrt(x)) = 5e149
    assert fd.verdict == "uneasy"
    run("eval", "log(x)", "--at", "x=1e-10", "--fd", "--no-check")  # exit 0, not 1


def test_fd_of_a_function_faster_than_its_step_is_not_a_wrong_gradient() -> None:
    # sin(1e8*x) has a period of 6.3e-8, far below the step: the stencil samples noise.
    fd = fd_of("sin(1e8*x)", x=1.0)["x"]
    assert fd.verdict == "uneasy"
    assert "unreliable" in fd.note


def test_fd_still_calls_a_wrong_claim_wrong() -> None:
    # check --fd compares the claim with the finite difference: 3*x against d/dx x^2 = 2x.
    out = run("check", "x^2", "--claim", "x=3*x", "--at", "x=1.5", "--fd", "--json", expect=1)
    claim = json.loads(out.stdout)["claims"][0]
    assert claim["fd_verdict"] == "wrong"
    assert math.isclose(claim["fd"], 3.0, rel_tol=1e-9)


# --- several outputs: an output named by an assignment that makes no node of its own


def test_an_output_rebound_to_another_name_is_its_last_binding() -> None:
    # u is rebound to w = x + 1: d u/d (x, y) = (1, 0), not x*y's (y, x) = (3, 2).
    out = run("jacobian", "u = x*y; w = x+1; u = w", "--output", "u,w", "--at", "x=2,y=3", "--json")
    doc = json.loads(out.stdout)
    assert doc["jacobian"] == [[1.0, 0.0], [1.0, 0.0]]
    assert doc["check"]["status"] == "ok"


def test_an_output_that_is_an_alias_is_found() -> None:
    # u = x is the identity (row 1, 0); v = u is x*y's alias (row y, x = 3, 2).
    out = run("jacobian", "u = x; v = x*y", "--output", "u,v", "--at", "x=2,y=3", "--json")
    assert json.loads(out.stdout)["jacobian"] == [[1.0, 0.0], [3.0, 2.0]]
    out = run("eval", "u = x*y; v = u; v+1", "--output", "v", "--at", "x=2,y=3", "--json")
    assert json.loads(out.stdout)["gradients"] == {"v": {"x": 3.0, "y": 2.0}}
    out = run("jacobian", "u = x*y; v = u", "--output", "q", "--at", "x=2,y=3", expect=2)
    assert "the named statements are: u, v" in out.stderr


# --- --direction and --wrt: a name given twice is an error, as in --at


def test_a_direction_given_twice_is_an_error() -> None:
    out = run("eval", "x*y", "--at", "x=1,y=2", "--direction", "x=1,x=2", expect=2)
    assert "x is given twice in --direction" in out.stderr
    out = run(
        "explain",
        "--forward",
        "x*y",
        "--at",
        "x=1,y=2",
        "--direction",
        "x=1",
        "--direction",
        "x=2",
        expect=2,
    )
    assert "x is given twice in --direction" in out.stderr


def test_hessian_wrt_given_twice_is_an_error() -> None:
    out = run("hessian", "x*y", "--at", "x=1,y=2", "--wrt", "x,x", expect=2)
    assert "x is given twice in --wrt" in out.stderr


def test_help_shows_the_new_options_in_examples() -> None:
    eval_help = run("eval", "--help").stdout
    examples = eval_help[eval_help.index("Examples:") :]
    for option in ("--fd", "--direction", "--output"):
        assert option in examples, option
    assert "--fd" in examples[examples.index("Exit status") :]
    explain_help = run("explain", "--help").stdout
    assert "--forward" in explain_help[explain_help.index("Examples:") :]


# --- hessian: an infinite local derivative does not spoil the entries it cannot reach


def test_hessian_entry_beside_an_infinite_one_keeps_its_value() -> None:
    # f = sqrt(x)*y at (0, 1): f_xx = -y/(4 x^1.5) = -inf, f_xy = 1/(2 sqrt(x)) = +inf,
    # f_yy = 0 (f is linear in y). The yy entry was nan (inf * a zero tangent component).
    out = run("hessian", "sqrt(x)*y", "--at", "x=0,y=1", "--json")
    doc = json.loads(out.stdout)
    assert doc["hessian"] == [[None, None], [None, 0.0]]
    assert doc["verdicts"][1][1] == "ok"
    notes = " ".join(doc["notes"])
    assert "d2/dx dx is -inf" in notes and "d2/dx dy is +inf" in notes
    assert "nan" not in notes


# --- check: an undecided claim does not say "no proof" when SymPy proved it


def test_undecided_claim_says_what_sympy_found() -> None:
    # log(x - 100) is undefined at every sample in [-10, 10]; d/dx = 1/(x - 100) by hand.
    out = run("check", "log(x-100)", "--claim", "x=1/(x-100)", "--json", expect=1)
    claim = json.loads(out.stdout)["claims"][0]
    assert claim["verdict"] == "undecided" and claim["points"] == 0
    assert claim["proof"] is not None
    assert "no proof" not in claim["detail"] and "SymPy proves it" in claim["detail"]
    # With a point where it is defined, the same claim is correct.
    run("check", "log(x-100)", "--claim", "x=1/(x-100)", "--at", "x=101")


# --- check --claims: a file with a byte-order mark, CRLF line ends, or no claim at all


def test_claims_file_with_a_byte_order_mark_and_crlf() -> None:
    # As a program may: a leading BOM and CRLF line ends. d/dx x^2 = 2x.
    out = run("check", "x^2", "--claims", "-", stdin="\ufeffd_x = 2*x\r\n".encode())
    assert "status  correct (1 correct)" in out.stdout
    out = run("check", "x^2", "--claims", "-", stdin="\ufeff# c\r\nd_x = 2*x +\r\n", expect=2)
    assert "in the claims file" in out.stderr and "U+FEFF" not in out.stderr


def test_an_empty_claims_file_says_so() -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        out = run("check", "x^2", "--claims", "-", "--json", stdin=text, expect=2)
        assert "the claims file is empty" in out.stderr
        assert json.loads(out.stdout)["error"]["kind"] == "input"


# --- check --claims: grad's own output for a program with assigned names


def test_grad_output_checks_as_claims_for_a_program_with_assigned_names() -> None:
    # README: `backprop grad PROGRAM | backprop check PROGRAM --claims -` checks grad's
    # output. staged.bp assigns den, xpy, ...: grad writes d_den, d_xpy as helpers.
    grad = run("grad", "-f", "samples/staged.bp").stdout
    assert "d_den = " in grad
    out = run("check", "-f", "samples/staged.bp", "--claims", "-", "--json", stdin=grad)
    doc = json.loads(out.stdout)
    assert [c["wrt"] for c in doc["claims"]] == ["x", "y"]
    assert doc["status"] == "correct"
    # A d_NAME for a name nothing assigns is still a mistake in the file.
    out = run("check", "x^2", "--claims", "-", stdin="d_z = 2*x\n", expect=2)
    assert "a claim for z, which is not an input" in out.stderr


# --- eval --direction --json: a tangent written as null says what it is


def test_an_infinite_tangent_is_null_with_a_note() -> None:
    # sqrt(x)*y at x = 0 along x: d/dx sqrt(x) = 1/(2 sqrt(x)) = +inf, so the tangents of
    # sqrt(x) and of the product (times y = 1) are +inf; x's own tangent is 1.
    out = run("eval", "sqrt(x)*y", "--at", "x=0,y=1", "--direction", "x=1", "--json")
    nodes = json.loads(out.stdout)["nodes"]
    assert nodes[0]["tangent"] == 1.0
    for node in nodes[2:]:
        assert node["tangent"] is None
        assert "tangent is +inf" in node["notes"]


# --- eval --fd at a gate's kink where the function is differentiable all the same


def test_fd_at_a_kink_the_function_does_not_have() -> None:
    # relu(x)^2 and abs(x)^3 have derivative 0 at 0 (2 relu(x) relu'(x), 3 abs(x)^2 sign(x));
    # x + 0*abs(x) has derivative 1. Both one-sided differences agree: not "not defined".
    for program, slope in (("relu(x)^2", 0.0), ("abs(x)^3", 0.0), ("x + 0*abs(x)", 1.0)):
        fd = fd_of(program, x=0.0)["x"]
        assert fd.verdict == "good", program
        assert fd.value is not None and abs(fd.value - slope) < 1e-9, program
        assert "not defined" not in fd.note
    # relu(x) - relu(-x) is x (slope 1), but PyTorch's relu'(0) = 0 gives the gradient 0:
    # a kink verdict with both sides, never "wrong".
    fd = fd_of("relu(x) - relu(-x)", x=0.0)["x"]
    assert fd.verdict == "kink" and fd.left == 1.0 and fd.right == 1.0
    assert "convention" in fd.note
    # A real kink stays one: abs(x) at 0, left -1, right 1.
    fd = fd_of("abs(x)", x=0.0)["x"]
    assert (fd.verdict, fd.left, fd.right) == ("kink", -1.0, 1.0)


# --- check's table: a point of many inputs is listed as ten names and a count


def test_check_lists_at_most_ten_coordinates_of_a_point() -> None:
    # sum of sin(x_i) for 30 inputs: d/dx0 = cos(x0); 2*cos(x0) is wrong (a factor 2).
    n = 30
    program = "+".join(f"sin(x{i})" for i in range(n))
    args = ["check", program, "--claim", "x0=2*cos(x0)", "--samples", "2", "--fd"]
    out = run(*args, expect=1)
    line = next(x for x in out.stdout.splitlines() if "differs at" in x)
    assert "x9 = " in line and "x10 = " not in line and "and 20 more" in line
    line = next(x for x in out.stdout.splitlines() if "finite difference at" in x)
    assert "and 20 more" in line
    doc = json.loads(run(*args, "--json", expect=1).stdout)
    assert len(doc["claims"][0]["counterexample"]["at"]) == n


def test_a_direction_over_many_inputs_names_the_moving_ones() -> None:
    # 30 inputs, sum of sin(x_i) at 0.5 along x0 + 2 x5: 3 cos(0.5).
    n = 30
    program = "+".join(f"sin(x{i})" for i in range(n))
    at = ",".join(f"x{i}=0.5" for i in range(n))
    out = run("eval", program, "--at", at, "--direction", "x0=1,x5=2", "--no-check")
    line = next(x for x in out.stdout.splitlines() if x.startswith("along"))
    assert line.startswith("along   x0=1.0, x5=2.0 (the other 28 inputs 0): ")
    assert math.isclose(float(line.rsplit(" ", 1)[1]), 3 * math.cos(0.5), rel_tol=1e-12)
    out = run("explain", "--forward", program, "--at", at, "--direction", "x0=1")
    assert "Along    x0 = 1 (the other 29 inputs 0)" in out.stdout


def test_hessian_notes_group_entries_not_checked_for_one_reason() -> None:
    # 12 inputs, next to no time for the check: of 78 distinct entries, the many that
    # are not checked (how many depends on the clock) share one line.
    n = 12
    program = "+".join(f"x{i}*x{(i + 1) % n}" for i in range(n))
    at = ",".join(f"x{i}=1" for i in range(n))
    out = run("hessian", program, "--at", at, "--check-seconds", "0.0001")
    notes = out.stdout.split("\nnotes\n", 1)[1].splitlines()
    assert len(notes) == 1
    assert notes[0].count("d2/") == 10 and " more: not checked (" in notes[0]


def test_a_claim_reading_a_rebound_input_says_which_binding_it_reads() -> None:
    # h = tanh(h): d out/d h = 1 - tanh(h)^2 in the input h, but in a claim h is the
    # program's last binding (README), so the textbook formula is judged wrong: say why.
    out = run("check", "h = tanh(h)", "--claim", "h=1-tanh(h)^2", "--json", expect=1)
    claim = json.loads(out.stdout)["claims"][0]
    assert claim["verdict"] == "wrong"
    assert "h is an input that the program assigns" in claim["detail"]
    # Written with the assigned h (tanh of the input), the same derivative is correct.
    run("check", "h = tanh(h)", "--claim", "h=1-h^2")


def test_explain_forward_json_says_what_a_null_is() -> None:
    # sqrt(x) at 0 along x: local derivative 1/(2 sqrt(x)) = +inf, and so the tangent.
    out = run("explain", "--forward", "sqrt(x)", "--at", "x=0", "--json")
    step = json.loads(out.stdout)["steps"][0]
    assert step["terms"][0]["local"] is None and step["tangent"] is None
    assert step["notes"] == ["the local derivative d/dx is +inf", "the tangent is +inf"]


def test_hessian_check_seconds_nan_is_a_usage_error_not_a_crash() -> None:
    # --check-seconds nan passed click's range (nan compares false) and crashed the timer, exit 3.
    done = run("hessian", "x*x", "--at", "x=1", "--check-seconds", "nan", expect=2)
    assert "nan is not a number" in done.stderr
