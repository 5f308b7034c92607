"""How `backprop` behaves on the command line, as its users rely on it.

Each test names one promise of SPEC.md ("`backprop eval`") and checks stdout
and stderr apart. Expected numbers come from the seed and SPEC.md, from hand
derivations written next to them, or from SymPy used directly on an
expression the test writes itself.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from backprop import __version__
from clirun import ROOT, run

SCHEMA = json.loads((ROOT / "schema" / "eval.schema.json").read_text(encoding="utf-8"))
SAMPLES = ROOT / "samples"
PERCEPTRON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
ANSI = re.compile(r"\x1b")
BOX_DRAWING = re.compile("[\u2500-\u257f]")


def strict_json(text: str) -> Any:
    """Parse as strict JSON: NaN, Infinity and -Infinity tokens are refused."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def document(*args: str, **kwargs: Any) -> dict[str, Any]:
    """`backprop eval ARGS --json`, parsed strictly and validated against the schema."""
    done = run("eval", "--json", *args, **kwargs)
    assert done.stderr == ""
    doc = strict_json(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(NO_COLOR="1", COLUMNS="80")
    return env


# --- exit status: 0, 1, 2, 3 ---------------------------------------------------


def test_exit_0_when_sympy_agrees_on_every_node() -> None:
    done = run("eval", "-f", "samples/perceptron.bp")
    assert "check   sympy: ok; 13 ok" in done.stdout
    assert done.stderr == ""


def test_exit_1_when_a_gate_derivative_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop.engine.gates import GATES

    # A deliberately wrong rule: sin' = -cos (the right one is cos).
    wrong = dataclasses.replace(GATES["sin"], vjp=lambda L, g, a, out: (g * -L.cos(a),))
    monkeypatch.setitem(GATES, "sin", wrong)
    doc = document("sin(x) * y", "--at", "x=0.5,y=2", expect=1)
    assert doc["check"]["status"] == "mismatch"
    x = doc["nodes"][0]
    assert (x["text"], x["verdict"]) == ("x", "mismatch")
    # SymPy's opinion is the true derivative y*cos(x); ours is its negation.
    assert x["sympy_grad"] == pytest.approx(2 * math.cos(0.5), rel=1e-12)
    assert x["grad"] == pytest.approx(-2 * math.cos(0.5), rel=1e-12)

    table = run("eval", "sin(x) * y", "--at", "x=0.5,y=2", expect=1)
    assert "mismatch" in table.stdout.splitlines()[1]
    assert "check   sympy: mismatch" in table.stdout
    assert table.stderr == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "1/(1+exp(-x)", "--at", "x=1"], "error: expected ')' to close '('"),
        (["eval", "sigmod(x)", "--at", "x=1"], "did you mean sigmoid?"),
        (["eval", "x*y", "--at", "x=1"], "error: missing a value for y"),
        (["eval", "x*y", "--at", "x=1,y=2,q=3"], "error: q is not an input; inputs are: x, y"),
        (["eval", "x", "--at", "x=inf"], "error: --at value for x must be a decimal number"),
        (["eval", "x", "--at", "x=1_000"], "error: --at value for x must be a decimal number"),
        (["eval", "x", "--at", "x=1e400"], "error: --at value for x: number 1e400 is too large"),
        (["eval", "x", "--at", "x"], "error: --at expects NAME=VALUE"),
        (["eval", "log(x)", "--at", "x=-1"], "error: log needs a positive argument, got -1.0"),
        (["eval", "1/x", "--at", "x=0"], "error: division by zero"),
        (["eval", "exp(x)", "--at", "x=1000"], "error: exp overflows"),
        (["eval", "-f", "samples/no_such_file.bp"], "error: cannot read samples/no_such_file.bp"),
        (
            ["eval", "x", "-f", "samples/circuit.bp"],
            "Error: give the program either",
        ),
        (["eval"], "Error: give a PROGRAM, -f FILE, or -"),
        (["eval", "-x", "--at", "x=1"], "goes after '--'"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_exit_2_for_bad_input_with_one_message_and_no_traceback(
    args: list[str], message: str
) -> None:
    done = run(*args, expect=2)
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert sum(line.startswith(("error:", "Error:")) for line in done.stderr.splitlines()) == 1


def test_exit_2_for_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.bp"
    path.write_bytes("x * 2  # \xb2\n".encode("latin-1"))
    done = run("eval", "-f", str(path), "--at", "x=1", expect=2)
    assert done.stderr.startswith(f"error: {path} is not UTF-8 text")
    assert done.stdout == ""


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


def test_exit_3_for_an_internal_error_is_one_line_asking_for_a_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("backprop.engine.evaluate", _explode)
    done = run("eval", "x*y", "--at", "x=1,y=2", expect=3)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "internal error (RuntimeError: boom)" in done.stderr
    assert "report" in done.stderr and "--traceback" in done.stderr
    assert "Traceback" not in done.stderr


# A wrapper that breaks evaluate() in a fresh interpreter and runs the real entry point.
BROKEN_EVALUATE = """
import sys
import backprop.engine

def explode(*args, **kwargs):
    raise RuntimeError("boom")

backprop.engine.evaluate = explode
from backprop.cli.main import main
sys.argv = ["backprop", *sys.argv[1:]]
main()
"""


def test_traceback_flag_shows_the_internal_error() -> None:
    base = [sys.executable, "-c", BROKEN_EVALUATE, "eval", "x", "--at", "x=1"]
    quiet = subprocess.run(base, capture_output=True, text=True, env=subprocess_env())
    assert quiet.returncode == 3
    assert "Traceback" not in quiet.stderr
    loud = subprocess.run(
        [*base, "--traceback"], capture_output=True, text=True, env=subprocess_env()
    )
    assert loud.returncode != 0
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("RuntimeError: boom")


@pytest.mark.parametrize("command", ["eval", "explain", "graph"])
def test_help_lists_traceback_for_bug_reports(command: str) -> None:
    help_text = run(command, "--help").stdout
    assert "--traceback" in help_text
    assert "internal error (exit 3)" in " ".join(help_text.split())


# --- stdout and stderr ------------------------------------------------------------


def test_json_goes_to_stdout_alone_and_errors_to_stderr_alone() -> None:
    good = run("eval", "x*y", "--at", "x=1,y=2", "--json")
    assert good.stderr == ""
    strict_json(good.stdout)  # the whole of stdout is one document
    bad = run("eval", "x*y", "--at", "x=1", "--json", expect=2)
    assert bad.stderr.startswith("error: missing a value for y")
    # With --json, stdout is still one document: the error's (tests/test_errors.py).
    assert strict_json(bad.stdout)["error"]["kind"] == "input"


def test_syntax_error_points_at_the_column_with_a_caret() -> None:
    done = run("eval", "x * (y + ", "--at", "x=1,y=2", expect=2)
    message, line, caret = done.stderr.splitlines()
    assert message.startswith("error: ")
    assert line == "  x * (y + "
    assert caret == "           ^"  # under the end of input, column 10


def test_error_in_a_multi_line_program_names_its_line() -> None:
    program = "a = x + 1\nb = log(a - 2)\nb * 2\n"
    done = run("eval", "-", "--at", "x=1", stdin=program, expect=2)
    assert done.stderr.splitlines()[1:] == [
        "  line 2 | b = log(a - 2)",
        "         |     ^^^^^^^^^^",
    ]


# --- JSON: strict, complete, and as the schema says -------------------------------


def test_json_has_the_seed_numbers_for_the_perceptron() -> None:
    doc = document("1/(1+exp(-(w0*x0+w1*x1+w2)))", "--at", PERCEPTRON_AT)
    # SPEC.md, "Numbers every user will try first" (to within 1e-12 relative).
    assert doc["value"] == pytest.approx(0.7310585786300049, rel=1e-12)
    assert doc["gradients"] == pytest.approx(
        {
            "w0": -0.19661193324148185,
            "x0": 0.3932238664829637,
            "w1": -0.3932238664829637,
            "x1": -0.5898357997244456,
            "w2": 0.19661193324148185,
        },
        rel=1e-12,
    )
    reciprocal = next(n for n in doc["nodes"] if n["op"] == "div")
    into = doc["nodes"][reciprocal["inputs"][1]]
    assert into["text"] == "1+exp(-(w0*x0+w1*x1+w2))"
    assert into["grad"] == pytest.approx(-0.534446645388523, rel=1e-12)
    assert doc["check"] == {
        "method": "sympy",
        "status": "ok",
        "scope": "all nodes",
        "counts": {"ok": 13, "mismatch": 0, "inaccurate": 0, "n/a": 0, "not checked": 0},
        "methods": {"adjoint": 13, "local": 0},
        "message": "13 ok",
    }


@pytest.mark.parametrize(
    "program, at",
    [
        ("sqrt(x)", "x=0"),  # gradient +inf
        ("x**y", "x=-2,y=2"),  # the exponent's gradient with a negative base: nan
        ("1 - sqrt(x)", "x=0"),  # -inf
        ("relu(x) + abs(y) + max(x, y, 0)", "x=0,y=0"),  # kinks and a three-way tie
        ("h = tanh(0.5*h + 0.1); h*h", "h=0.3"),  # rebinding
        ("2*pi + e", ""),  # no inputs at all
        ("z = x; x*2", "x=1"),  # a statement that does not reach the output
    ],
)
def test_json_is_strict_and_matches_the_schema(program: str, at: str) -> None:
    document(program, *(["--at", at] if at else []))


def test_non_finite_gradient_is_null_with_a_note_saying_which() -> None:
    doc = document("sqrt(x) - sqrt(y) + x**z", "--at", "x=0,y=0,z=0.5")
    notes = {n["text"]: n.get("notes", []) for n in doc["nodes"] if n["op"] == "var"}
    # d/dx (sqrt(x) + x**0.5) at 0 is +inf; d/dy (-sqrt(y)) is -inf.
    assert doc["gradients"]["x"] is None and "gradient is +inf" in notes["x"]
    assert doc["gradients"]["y"] is None and "gradient is -inf" in notes["y"]


def test_json_floats_are_never_rounded_even_with_precision() -> None:
    doc = document("-f", "samples/perceptron.bp", "--precision", "3")
    table = run("eval", "-f", "samples/perceptron.bp", "--no-check").stdout
    # The table prints every digit by default: the JSON has the same repr.
    assert f"output  {doc['value']!r}" in table
    assert len(repr(doc["value"])) > 15


def test_schema_names_every_gate_verdict_and_status() -> None:
    from backprop.engine.gates import GATES

    defs = SCHEMA["$defs"]
    assert set(defs["op"]["enum"]) == set(GATES)
    verdicts = {"ok", "mismatch", "inaccurate", "n/a", "not checked"}
    assert set(defs["verdict"]["enum"]) == verdicts
    check = defs["check"]["properties"]
    assert set(check["counts"]["required"]) == verdicts
    assert set(check["methods"]["required"]) == {"adjoint", "local"}
    statuses = {"mismatch", "inaccurate", "partial", "not checked", "n/a", "ok", "skipped"}
    assert set(check["status"]["enum"]) == statuses
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_refuses_what_strict_json_must_not_contain() -> None:
    doc = document("x*y", "--at", "x=1,y=2")
    broken = {**doc, "gradients": {"x": "NaN", "y": 1.0}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_long_sub_expressions_are_shortened_and_located_by_span() -> None:
    program = " + ".join(f"w{i}*x{i}" for i in range(30))
    at = ",".join(f"w{i}=1,x{i}=2" for i in range(30))
    doc = document(program, "--at", at, "--no-check")
    output = doc["nodes"][doc["output"]]
    start, end = output["span"]
    assert (start, end) == (0, len(program))
    assert len(output["text"]) == 80 and output["text"].endswith("…")
    assert program[start:end].startswith(output["text"][:-1])
    for node in doc["nodes"]:
        start, end = node["span"]
        assert len(node["text"]) <= 80
        if not node["text"].endswith("…"):
            assert node["text"] == program[start:end]


def test_json_expression_is_the_program_text_and_spans_index_it() -> None:
    doc = document("-f", "samples/fanout.bp")
    assert doc["expression"] == (SAMPLES / "fanout.bp").read_text(encoding="utf-8")
    for node in doc["nodes"]:
        start, end = node["span"]
        assert doc["expression"][start:end] == node["text"]


# --- pipes: plain, and the same bytes at any width --------------------------------


def test_piped_table_is_the_same_bytes_whatever_the_width() -> None:
    long = " + ".join(f"sigmoid(w{i}*x{i} - {i}.25)" for i in range(8))
    at = ",".join(f"w{i}=0.{i + 1},x{i}=-{i}.5" for i in range(8))
    for args in (["-f", "samples/perceptron.bp"], [long, "--at", at]):
        narrow = run("eval", *args, env={"COLUMNS": "40"})
        wide = run("eval", *args, env={"COLUMNS": "200"})
        assert narrow.stdout == wide.stdout
    # Every digit survives a narrow terminal width (rich would clip to "-0.19…").
    assert "-0.19661193324148" in run("eval", "-f", "samples/perceptron.bp").stdout


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"NO_COLOR": None},
        {"NO_COLOR": None, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "30"},
    ],
    ids=["no-color", "pipe-only", "force-color"],
)
def test_piped_output_has_no_colour_codes_or_box_characters(env: dict[str, str | None]) -> None:
    long = "tanh(" + " + ".join(f"w{i}*x{i}" for i in range(40)) + ")"
    at = ",".join(f"w{i}=0.01,x{i}=1" for i in range(40))
    for args in (["-f", "samples/staged.bp"], [long, "--at", at], ["relu(x)", "--at", "x=0"]):
        done = run("eval", *args, env=env)
        assert not ANSI.search(done.stdout)
        assert not BOX_DRAWING.search(done.stdout)
    error = run("eval", "log(x)", "--at", "x=0", env=env, expect=2)
    assert not ANSI.search(error.stderr)


# --- version, help, python -m -------------------------------------------------------


def test_version() -> None:
    from importlib.metadata import version

    done = run("--version")
    assert done.stdout == f"backprop, version {__version__}\n"
    assert __version__ == version("backprop-cli")


def test_help_shows_examples() -> None:
    top = run("--help").stdout
    assert 'backprop eval "(x+y)*z" --at x=-2,y=5,z=-4' in top
    assert "eval" in top
    sub = run("eval", "--help").stdout
    assert "Examples:" in sub
    assert "backprop eval -f samples/perceptron.bp" in sub
    assert "| backprop eval - --at" in sub  # stdin
    assert '-- "-x**2"' in sub  # a program starting with '-'
    assert "Exit status" in sub
    for option in ("--at", "--json", "--no-check", "--precision", "-f, --file"):
        assert option in sub


def test_python_dash_m_backprop() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backprop", "--version"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"backprop, version {__version__}\n",
        "",
    )


# --- what the command imports ----------------------------------------------------------

# Runs the real entry point, then reports on stderr whether sympy was imported.
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


@pytest.mark.parametrize("no_check, imported", [(True, False), (False, True)])
def test_no_check_never_imports_sympy(no_check: bool, imported: bool) -> None:
    args = ["eval", "x*y", "--at", "x=1,y=2", *(["--no-check"] if no_check else [])]
    done = subprocess.run(
        [sys.executable, "-c", WHICH_MODULES, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"sympy imported: {imported}\n"
    assert "output  2.0" in done.stdout


def _imports(path: Path) -> set[str]:
    """Every module a source file imports (absolute names; `from a import b` gives a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            assert node.module is not None
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, f"no Python files under {folder}/"
    return found


def test_cli_package_does_no_mathematics() -> None:
    for path in _sources("cli"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in ("math", "cmath", "sympy", "numpy"), f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "folder, forbidden",
    [("parser", ("backprop.engine", "backprop.cli")), ("engine", ("backprop.cli",))],
)
def test_imports_run_one_way_cli_engine_parser(folder: str, forbidden: tuple[str, ...]) -> None:
    for path in _sources(folder):
        for name in _imports(path):
            assert not name.startswith(forbidden), f"{folder}/{path.name} imports {name}"


# --- program input: file, stdin, '--', the sample's point --------------------------


def test_at_overrides_the_samples_at_line() -> None:
    doc = document("-f", "samples/circuit.bp", "--at", "z=2")
    assert doc["at"] == {"x": -2.0, "y": 5.0, "z": 2.0}
    # (x + y) * z = 3 * 2; d/dx = z = 2, d/dz = x + y = 3.
    assert doc["value"] == 6.0
    assert doc["gradients"] == {"x": 2.0, "y": 2.0, "z": 3.0}


def test_at_accepts_repeats_and_comma_lists() -> None:
    doc = document("(x+y)*z", "--at", "x=-2", "--at", "y=5,z=-4")
    assert doc["at"] == {"x": -2.0, "y": 5.0, "z": -4.0}


def test_program_from_stdin_and_from_file_agree() -> None:
    text = (SAMPLES / "staged.bp").read_text(encoding="utf-8")
    from_stdin = run("eval", "-", "--json", "--no-check", stdin=text).stdout
    from_file_dash = run("eval", "-f", "-", "--json", "--no-check", stdin=text).stdout
    from_file = run("eval", "-f", "samples/staged.bp", "--json", "--no-check").stdout
    assert from_stdin == from_file_dash == from_file


def test_program_starting_with_a_minus_goes_after_double_dash() -> None:
    doc = document("--at", "x=3", "--", "-x**2")
    assert doc["value"] == -9.0  # -(x**2), not (-x)**2
    assert doc["gradients"] == {"x": -6.0}


@pytest.mark.slow
@pytest.mark.parametrize(
    "program",
    [
        "(" * 50_000 + "x" + ")" * 50_000,
        "-" * 50_000 + "x",
        "abs(" * 50_000 + "x" + ")" * 50_000,
    ],
    ids=["parentheses", "minus-signs", "calls"],
)
def test_a_50000_deep_program_runs_without_a_traceback(program: str) -> None:
    done = run("eval", "--at", "x=2", "--", program)
    assert done.stderr == ""
    # Each of these is x itself at x = 2 (an even number of minus signs).
    assert "\noutput  2.0\n" in done.stdout
    assert "\n  x  1.0\n" in done.stdout


@pytest.mark.slow
def test_a_large_graph_is_checked_within_a_budget_not_refused() -> None:
    program = "abs(" * 50_000 + "x" + ")" * 50_000
    done = run("eval", "--json", "--at", "x=2", "--", program)
    doc = strict_json(done.stdout)  # (validating 50,001 nodes against the schema is slow)
    # Too large for SymPy's whole-program derivative: checked gate by gate,
    # from the output back, as far as the time budget goes.
    assert doc["check"]["status"] in ("ok", "partial")
    assert "gate by gate" in doc["check"]["message"]
    assert doc["nodes"][-1]["check"] == "local"
    assert "50,001 nodes" in doc["nodes"][-1]["reason"]


# --- broken pipes ---------------------------------------------------------------------


def test_output_cut_short_by_head_exits_cleanly() -> None:
    backprop = f"{shlex.quote(sys.executable)} -m backprop"  # whether or not on PATH
    command = f"{backprop} eval -f samples/perceptron.bp | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
    )
    assert done.stdout.startswith("id  gate")
    assert done.stdout.count("\n") == 1
    assert done.stderr == ""
    assert done.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["-f", "samples/perceptron.bp"],
        ["x" + " + x" * 20_000, "--at", "x=1", "--no-check", "--json"],  # megabytes of JSON
    ],
    ids=["table", "large-json"],
)
def test_writing_into_a_closed_pipe_exits_cleanly(args: list[str]) -> None:
    # The reading end is closed before the command starts: every write fails.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "backprop", "eval", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 0


# --- the samples -----------------------------------------------------------------------


def _sample_names() -> list[str]:
    names = sorted(p.stem for p in SAMPLES.glob("*.bp"))
    assert {"circuit", "perceptron", "staged", "tanh_neuron", "relu_max", "fanout"} <= set(names)
    return names


@pytest.mark.parametrize("name", _sample_names())
def test_every_sample_says_what_it_shows_and_runs_as_is(name: str) -> None:
    text = (SAMPLES / f"{name}.bp").read_text(encoding="utf-8")
    header = text.splitlines()[:2]
    assert all(line.startswith("# ") for line in header), "a header comment first"
    assert re.search(r"^# at: \w+=", text, re.M), "a '# at:' line with the default point"
    done = run("eval", "-f", f"samples/{name}.bp")
    assert done.stderr == ""
    assert "check   sympy: ok" in done.stdout


def _sympy_reference(name: str) -> tuple[Any, dict[str, float]]:
    """Each sample's function, written here with SymPy, and its point."""
    import sympy as sp

    def sigmoid(a: Any) -> Any:
        return 1 / (1 + sp.exp(-a))

    s = sp.symbols("x y z w w0 x0 w1 x1 w2 x2 b", real=True)
    x, y, z, w, w0, x0, w1, x1, w2, x2, b = s
    table = {
        "circuit": ((x + y) * z, {"x": -2, "y": 5, "z": -4}),
        "perceptron": (
            1 / (1 + sp.exp(-(w0 * x0 + w1 * x1 + w2))),
            {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3},
        ),
        "staged": ((x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2), {"x": 3, "y": -4}),
        "tanh_neuron": (
            sp.tanh(x1 * w1 + x2 * w2 + b),
            {"x1": 2, "x2": 0, "w1": -3, "w2": 1, "b": 6.8813735870195432},
        ),
        "relu_max": (sp.Max(w * x + b, 0) * sp.Max(x, y), {"w": 2, "x": 3, "b": -1, "y": 1}),
        "fanout": (x * x + x, {"x": 3}),
    }
    return table[name]


@pytest.mark.parametrize(
    "name", ["circuit", "perceptron", "staged", "tanh_neuron", "relu_max", "fanout"]
)
def test_sample_numbers_agree_with_sympy_written_by_hand(name: str) -> None:
    import sympy as sp

    function, point = _sympy_reference(name)
    doc = document("-f", f"samples/{name}.bp", "--no-check")
    assert doc["at"] == {k: float(v) for k, v in point.items()}  # the file's '# at:' line
    symbols = {str(s): s for s in function.free_symbols}
    at = {symbols[k]: sp.Float(v, 30) for k, v in point.items() if k in symbols}
    assert float(function.subs(at)) == pytest.approx(doc["value"], rel=1e-12)
    for name_, grad in doc["gradients"].items():
        expected = float(sp.diff(function, symbols[name_]).subs(at))
        assert grad == pytest.approx(expected, rel=1e-12, abs=1e-15), name_


# Hand derivations, one line each (the sample files' "Expect:" lines).
HAND = {
    "circuit": (-12.0, {"x": -4.0, "y": -4.0, "z": 3.0}),  # q = x+y = 3; dz = q, dx = dy = z
    "fanout": (12.0, {"x": 7.0}),  # 9 + 3; 2x + 1
    "relu_max": (15.0, {"w": 9.0, "x": 11.0, "b": 3.0, "y": 0.0}),  # 5 * 3; dx = w*3 + 5
    # tanh(atanh(1/sqrt 2)): 1 - o**2 = 1/2; dx1 = w1/2, dw1 = x1/2, dx2 = w2/2, dw2 = x2/2
    "tanh_neuron": (
        1 / math.sqrt(2),
        {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5},
    ),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_sample_numbers_match_the_hand_derivation(name: str) -> None:
    value, gradients = HAND[name]
    doc = document("-f", f"samples/{name}.bp", "--no-check")
    assert doc["value"] == pytest.approx(value, rel=1e-12)
    assert doc["gradients"] == pytest.approx(gradients, rel=1e-12, abs=1e-15)
