"""Regressions found in review, each against an independent reference.

The expected values come from mpmath or from the mathematics written out by
hand, not from the engine.
"""

from __future__ import annotations

import json
import math

import mpmath
import pytest
from backprop.cli.main import check_exit_code
from backprop.engine import evaluate

from tests.clirun import run


@pytest.mark.parametrize(
    ("program", "x"),
    [
        ("x**-1", 1e-200),  # d/dx = -x**-2 = -1e400
        ("x**-1", -1e-200),  # -1e400 as well: x**-2 is positive
        ("x**-3", -1e-100),  # -3 * x**-4 = -3e400
        ("x**-2", -1e-150),  # -2 * x**-3 = +2e450
    ],
)
def test_pow_slope_that_overflows_keeps_its_sign(program: str, x: float) -> None:
    exponent = int(program.split("**")[1])
    exact = exponent * mpmath.mpf(x) ** (exponent - 1)  # far beyond a float's range
    expected = math.copysign(math.inf, float(mpmath.sign(exact)))
    result = evaluate(program, {"x": x}, check=False)
    assert result.gradients["x"] == expected
    word = "+inf" if expected > 0 else "-inf"
    assert f"gradient is {word}" in result.nodes[0].notes


CONTROL_COMMENT = "# at: x=1\n(x # \x1b]0;title\x07 \x1b[31mred \u202e rtl\n + 1) * 2\n"


@pytest.mark.parametrize("args", [("eval", "--no-check"), ("explain",), ("graph",)])
def test_a_comment_cannot_write_terminal_escapes(tmp_path, args: tuple[str, ...]) -> None:
    program = tmp_path / "escape.bp"
    program.write_text(CONTROL_COMMENT, encoding="utf-8")
    out = run(*args, "-f", str(program)).stdout
    assert not any(c in out for c in "\x1b\x07\u202e"), out
    assert "\ufffd" in out


def test_json_node_texts_carry_no_control_characters(tmp_path) -> None:
    program = tmp_path / "escape.bp"
    program.write_text(CONTROL_COMMENT, encoding="utf-8")
    document = json.loads(run("eval", "--no-check", "--json", "-f", str(program)).stdout)
    assert document["expression"] == CONTROL_COMMENT  # the program text, as given
    texts = [node["text"] for node in document["nodes"]]
    assert all(text.isprintable() for text in texts), texts


def test_explain_does_not_say_a_tied_max_routes_the_whole_gradient() -> None:
    # At a tie PyTorch's amax/amin backward splits the gradient evenly (1/k each),
    # so "1 if a is the largest, else 0 = 0.333" would contradict its own number.
    out = run("explain", "max(x, y, 0)", "--at", "x=0,y=0", "--precision", "3").stdout
    assert "routes the whole gradient" not in out
    assert "1 if x is the largest" not in out
    assert "local d/dx         1/3 if x ties for the largest, else 0 = 0.333" in out
    untied = run("explain", "max(x, y)", "--at", "x=3,y=1").stdout
    assert "local d/dx         1 if x is the largest, else 0 = 1" in untied


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e10", "1e300"])
def test_a_check_budget_the_timer_cannot_hold_is_a_usage_error(seconds: str) -> None:
    # Was exit 3 ("internal error ... timestamp out of range for platform time_t").
    done = run("eval", "x", "--at", "x=1", "--check-seconds", seconds, expect=2)
    assert "--check-seconds" in done.stderr
    assert "internal error" not in done.stderr


@pytest.mark.parametrize("command", ["eval", "explain", "graph"])
def test_a_file_name_cannot_write_terminal_escapes(tmp_path, command: str) -> None:
    # The "cannot read" message repeats the file name, which is the user's text.
    missing = tmp_path / "no\x1b]0;title\x07such\x1b[31m.bp"
    done = run(command, "-f", str(missing), expect=2)
    assert "cannot read" in done.stderr
    assert not any(c in done.stderr for c in "\x1b\x07"), done.stderr
    assert "no\ufffd]0;title\ufffdsuch\ufffd[31m.bp" in done.stderr


def test_explain_names_a_constant_input_once() -> None:
    out = run("explain", "max(x, 0)", "--at", "x=-1").stdout
    assert "cached inputs      x = -1, 0 (a constant)\n" in out
    assert "b = 0 = 0" not in out


@pytest.mark.parametrize(
    ("program", "at", "expected"),
    [
        # min(x, y, x) is min(x, y): at x < y its slope in x is 1, a smooth point.
        ("min(x,y,x)", {"x": 1.0, "y": 2.0}, {"x": 1.0, "y": 0.0}),
        # Two equal constants tie, but x is below them: the output does not move with x.
        ("max(2,2,x)", {"x": 1.0}, {"x": 0.0}),
    ],
)
def test_a_tie_among_copies_or_constants_is_not_a_kink(program: str, at, expected) -> None:
    result = evaluate(program, at)
    assert result.gradients == expected
    assert all(node.verdict in ("ok", None) for node in result.nodes), result.nodes
    assert not any("tie" in note for node in result.nodes for note in node.notes)


def test_a_tie_between_different_inputs_is_still_a_kink() -> None:
    result = evaluate("max(x,y)", {"x": 1.0, "y": 1.0})
    assert result.gradients == {"x": 0.5, "y": 0.5}  # PyTorch's amax: 1/k each
    assert [node.verdict for node in result.nodes[:2]] == ["n/a", "n/a"]


@pytest.mark.parametrize(
    ("program", "x"),
    [
        # Each is constant near the point (0 for x < 0, or a constant power x**0),
        # so its derivative is 0; an infinite gradient from above (sqrt and asin
        # at the edge of their domains) times the flat gate's 0 was nan.
        ("sqrt(relu(x))", -1.0),
        ("pow(relu(x), 0.5)", -1.0),
        ("acos(relu(x)+1)", -1.0),
        ("sqrt(max(x, 0))", -2.0),
        ("asin(x**0)", 3.0),
        ("asin(exp(x)**0)", 3.0),
        ("sqrt(1-x**0)", 2.0),
    ],
)
def test_a_flat_gate_stops_an_infinite_gradient(program: str, x: float) -> None:
    result = evaluate(program, {"x": x})
    assert result.gradients == {"x": 0.0}
    assert result.check.status == "ok"
    assert result.nodes[0].verdict == "ok", result.nodes[0]


def test_a_nan_gradient_does_not_leak_through_a_constant_exponent() -> None:
    # x = cos(z) / (-y)**1 = -cos(z)/y: dz = sin(z)/y, dy = cos(z)/y**2. The
    # exponent's own gradient is nan (log of the negative base -y), but the
    # exponent cosh(z)**0 is 1 whatever z is, so none of that nan reaches z.
    z, y = -2.0, 1.0
    result = evaluate("x = cos(z) / (-y)**cosh(z)**0; max(x, 1e-3)", {"z": z, "y": y})
    assert result.gradients["z"] == pytest.approx(math.sin(z) / y, rel=1e-15)
    assert result.gradients["y"] == pytest.approx(math.cos(z) / y**2, rel=1e-15)
    assert check_exit_code(result.check.status) == 0


@pytest.mark.parametrize("program", ["x", "y = x", "z = x*2; x"])
def test_explain_when_the_output_is_an_input(program: str) -> None:
    # d x / d x = 1: nothing "depends on no input", and x does affect the output.
    out = run("explain", program, "--at", "x=1").stdout
    assert "depends on no input" not in out
    assert "dx = 1  (the output itself)" in out
    assert "dx = 1  (does not affect the output)" not in out


def test_a_bad_at_line_is_blamed_on_the_line_not_on_the_option(tmp_path) -> None:
    program = tmp_path / "bad.bp"
    program.write_text("x\n# at: x=nan\n", encoding="utf-8")
    done = run("eval", "-f", str(program), expect=2)
    assert done.stderr.startswith("error: '# at:' value for x must be a decimal number")
    assert "--at" not in done.stderr
    assert "line 2 | # at: x=nan" in done.stderr


def test_a_name_twice_in_the_at_lines_is_an_error_as_in_the_option(tmp_path) -> None:
    program = tmp_path / "twice.bp"
    program.write_text("# at: x=1\n# at: x=2\nx*2\n", encoding="utf-8")
    done = run("eval", "-f", str(program), expect=2)
    assert done.stderr.startswith("error: x is given twice in the '# at:' lines")


@pytest.mark.parametrize(
    "content",
    [
        b"x*3\r\n# at: x=2\r\n",  # CRLF line ends: the '\r' is not part of the value
        b"\xef\xbb\xbf# at: x=2\nx*3\n",  # a byte-order mark before the '# at:' line
    ],
)
def test_the_at_line_is_read_whatever_the_file_encoding_noise(tmp_path, content: bytes) -> None:
    program = tmp_path / "sample.bp"
    program.write_bytes(content)
    document = json.loads(run("eval", "-f", str(program), "--json").stdout)
    assert document["at"] == {"x": 2.0}
    assert document["value"] == 6.0
    assert document["gradients"] == {"x": 3.0}


def test_zero_to_the_power_zero_is_not_flat_in_the_exponent() -> None:
    # 0**y is 1 at y = 0 and 0 for y > 0: a jump, so 0**y is not constant near
    # y = 0 and the infinite slope of sqrt at 0 must not be masked to 0.
    result = evaluate("sqrt(1-0**y)", {"y": 0.0})
    assert math.isnan(result.gradients["y"])
    # For y > 0, 0**y is 0 nearby: flat in y, so sqrt's finite slope (1/2 at 1) times 0 gives 0.
    assert evaluate("sqrt(1-0**y)", {"y": 1.0}).gradients == {"y": 0.0}
