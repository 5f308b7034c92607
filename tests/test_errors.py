"""Errors for people and for scripts: JSON errors, Ctrl-C, and hostile input.

SPEC.md, "Errors as JSON; interrupts": with --json an error is also one JSON
document on stdout; Ctrl-C exits 130 with one line and no partial JSON;
messages quote at most 80 characters of user text and list at most ten
names; output is always valid UTF-8.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from clirun import ROOT, run

ERROR_SCHEMA = json.loads((ROOT / "schema" / "error.schema.json").read_text(encoding="utf-8"))
BACKPROP = [sys.executable, "-m", "backprop"]


def error_document(stdout: str) -> dict[str, Any]:
    """stdout as one strict JSON error document, validated against the schema."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    doc = json.loads(stdout, parse_constant=refuse)
    jsonschema.validate(doc, ERROR_SCHEMA)
    return doc["error"]


def test_the_error_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(ERROR_SCHEMA)


# --- --json: an error is a JSON document too ---------------------------------------

# (arguments, kind, span or None, words of the message); each exits 2.
JSON_ERRORS = [
    (["eval", "x * (y + "], "syntax", [9, 9], "expected an expression"),
    (["eval", "sigmod(x)", "--at", "x=1"], "name", [0, 6], "unknown function 'sigmod'"),
    (["eval", "exp + 1"], "name", [0, 3], "exp is a function"),
    (["eval", "x*y", "--at", "x=1"], "input", None, "missing a value for y"),
    (["eval", "x", "--at", "x=1,q=2"], "input", None, "q is not an input"),
    (["eval", "x", "--at", "x=abc"], "input", None, "must be a decimal number"),
    (["eval", "log(x - 1)", "--at", "x=1"], "domain", [0, 10], "log needs a positive"),
    (["eval", "exp(x)", "--at", "x=1000"], "numeric", [0, 6], "overflow"),
    (["eval", "1e400 * x", "--at", "x=1"], "numeric", [0, 5], "too large"),
    (["eval", "x", "--at", "x=1", "--bogus"], "usage", None, "No such option '--bogus'"),
    (["eval", "x", "--check-seconds", "-1"], "usage", None, "--check-seconds"),
    (["eval", "--at", "x=1"], "usage", None, "give a PROGRAM"),
    (["eval", "1" * 401], "limit", [0, 401], "number is too long"),
    (["eval", "-f", "no/such/file.bp"], "io", None, "cannot read no/such/file.bp"),
    (["explain", "x * (y + "], "syntax", [9, 9], "expected an expression"),
    (["explain", "x*y", "--at", "x=1"], "input", None, "missing a value for y"),
    (["explain", "x", "--at", "x=1", "--precision", "99"], "usage", None, "--precision"),
]


@pytest.mark.parametrize(
    ("args", "kind", "span", "words"), JSON_ERRORS, ids=[" ".join(a)[:40] for a, *_ in JSON_ERRORS]
)
def test_json_errors_are_a_document_on_stdout_beside_the_message(
    args: list[str], kind: str, span: list[int] | None, words: str
) -> None:
    done = run(*args, "--json", expect=2)
    error = error_document(done.stdout)
    assert error["kind"] == kind
    assert error["span"] == span
    assert words in error["message"]
    assert words in done.stderr  # the same message for people


def test_without_json_an_error_writes_nothing_on_stdout() -> None:
    done = run("eval", "x * (y + ", expect=2)
    assert done.stdout == ""
    assert done.stderr.startswith("error: expected an expression")


def test_a_json_flag_after_double_dash_is_part_of_the_program() -> None:
    # `--` ends the options: "--json" there is the program, not the flag.
    done = run("eval", "--at", "x=1", "--", "--json", expect=2)
    assert done.stdout == ""


def test_an_internal_error_with_json_is_kind_internal_exit_3(monkeypatch) -> None:
    import backprop.engine

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(backprop.engine, "evaluate", broken)
    done = run("eval", "x", "--at", "x=1", "--json", expect=3)
    error = error_document(done.stdout)
    assert error["kind"] == "internal"
    assert "RuntimeError: boom" in error["message"]
    assert done.stderr.startswith("backprop: internal error (RuntimeError: boom)")


# --- Ctrl-C ------------------------------------------------------------------------


def _slow_program(tmp_path: Path) -> Path:
    """A program whose SymPy check takes about ten seconds on this kind of machine:
    390 terms over 397 inputs, each input's gradient differentiated by SymPy."""
    terms = "+".join(f"x{i}*y{i % 7}*tanh(x{i})" for i in range(390))
    at = ",".join([f"x{i}=0.{i % 9 + 1}" for i in range(390)] + [f"y{i}=0.5" for i in range(7)])
    path = tmp_path / "slow.bp"
    path.write_text(f"# at: {at}\n{terms}\n", encoding="utf-8")
    return path


def _interrupted(args: list[str], after: float) -> subprocess.CompletedProcess[bytes]:
    # A shell's background job ignores SIGINT, and children inherit that: give the
    # command the default disposition, as a terminal's foreground process has.
    child = subprocess.Popen(
        [*BACKPROP, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(after)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    return subprocess.CompletedProcess(args, child.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_ctrl_c_during_the_check_exits_130_with_one_line_and_no_output(
    tmp_path: Path, as_json: bool
) -> None:
    args = ["eval", "-f", str(_slow_program(tmp_path)), "--check-seconds", "60"]
    done = _interrupted(args + (["--json"] if as_json else []), after=3.0)
    assert done.returncode == 130, done.stderr
    assert done.stderr == b"backprop: interrupted\n"  # not click's "Aborted!", not exit 1
    assert done.stdout == b""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")
def test_ctrl_c_during_explain_exits_130(tmp_path: Path) -> None:
    # 30,000 terms: explain takes several seconds to build its walk-through.
    path = tmp_path / "big.bp"
    path.write_text("# at: x=0.5\n" + "+".join(["x*x"] * 30_000) + "\n", encoding="utf-8")
    done = _interrupted(["explain", "-f", str(path), "--json"], after=2.0)
    assert done.returncode == 130, done.stderr
    assert done.stderr == b"backprop: interrupted\n"
    assert done.stdout == b""


def test_an_interrupt_while_writing_waits_for_the_whole_document(monkeypatch) -> None:
    # The document is written in one piece with Ctrl-C held: a SIGINT that
    # arrives mid-write is delivered after the last byte, never in between.
    from backprop.cli import main

    raised: list[str] = []

    class Stream:
        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the write
            self.data += data

        def flush(self) -> None:
            pass

    stream = Stream()

    class Stdout:
        buffer = stream

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Stdout())
    try:
        main.write_whole('{"a": 1}\n')
    except KeyboardInterrupt:
        raised.append("after")
    assert stream.data == b'{"a": 1}\n'
    assert raised == ["after"]


# --- hostile input: one short message, whatever the size ----------------------------


def test_a_5000_digit_number_gets_a_short_message() -> None:
    done = run("eval", "1" * 5000, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert done.stderr.startswith("error: number is too long (over 400 characters)")


def test_a_5000_digit_number_run_into_a_name_is_shortened_with_its_length() -> None:
    done = run("eval", "1" * 5000 + "x", "--at", "x=1", expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert "1" * 40 + "…(5,000 characters)*x" in done.stderr


def test_a_100000_character_function_name_is_quoted_in_80_characters() -> None:
    done = run("eval", "f" * 100_000 + "(x)", "--at", "x=1", expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    first = done.stderr.splitlines()[0]
    assert first == f"error: unknown function '{'f' * 80}'…(100,000 characters)"


def test_1000_unknown_at_names_list_ten_and_a_count() -> None:
    names = ",".join(f"a{i}=1" for i in range(1000))
    done = run("eval", "x", "--at", "x=1", "--at", names, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert done.stderr == (
        "error: a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 (and 990 more) are not inputs; "
        "inputs are: x\n"
    )


def test_1000_missing_inputs_list_ten_and_a_count() -> None:
    program = "+".join(f"v{i}" for i in range(1000))
    done = run("eval", program, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert "missing a value for v0, v1, v2, v3, v4, v5, v6, v7, v8, v9 (and 990 more)" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("y" * 100_000 + "=1", f"error: {'y' * 80}…(100,000 characters) is not an input"),
        ("x=" + "1" * 100_000, "error: --at value for x: number is too long"),
        ("x" * 100_000, f"error: --at expects NAME=VALUE, got '{'x' * 80}'…(100,000 characters)"),
        ("x=1" + "5" * 5000 + "e", "error: --at value for x must be a decimal number"),
    ],
    ids=["long-name", "long-value", "no-equals", "bad-value"],
)
def test_a_long_at_item_gets_a_short_message(at: str, words: str) -> None:
    done = run("eval", "x", "--at", at, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert done.stderr.startswith(words)


def test_a_long_extra_argument_is_shortened_in_click_s_message() -> None:
    done = run("eval", "x", "--at", "x=1", "y" * 100_000, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert "Got unexpected extra argument" in done.stderr


def test_a_long_program_starting_with_a_dash_is_shortened() -> None:
    done = run("eval", "-" + "x" * 100_000, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert "goes after '--'" in done.stderr


def test_a_long_file_name_shows_its_end() -> None:
    path = "d/" * 200 + "missing.bp"
    done = run("eval", "-f", path, expect=2)
    assert len(done.stderr) < 1000, len(done.stderr)
    assert f"missing.bp ({len(path):,} characters): " in done.stderr


# --- output is always valid UTF-8 ----------------------------------------------------


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_undecodable_bytes_in_the_program_argument_are_refused(as_json: bool) -> None:
    # Python decodes argv with surrogateescape: 0xff becomes U+DCFF, a lone
    # surrogate that would reach stdout as invalid UTF-8.
    argv = [os.fsencode(a) for a in BACKPROP] + [b"eval", b"x*2  # caf\xe9 \xff", b"--at", b"x=1"]
    done = subprocess.run(
        argv + ([b"--json"] if as_json else []), cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 2
    done.stdout.decode("utf-8")  # strict: valid UTF-8
    done.stderr.decode("utf-8")
    message = "the program argument is not UTF-8 text (byte 0xe9 at character 11)"
    assert done.stderr.decode("utf-8").startswith(f"error: {message}")
    if as_json:
        error = error_document(done.stdout.decode("utf-8"))
        assert error["kind"] == "input"
        assert error["message"].startswith(message)
    else:
        assert done.stdout == b""


def test_undecodable_bytes_in_an_at_value_are_refused_in_utf_8() -> None:
    argv = [os.fsencode(a) for a in BACKPROP] + [b"eval", b"x", b"--at", b"x=1\xff", b"--json"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    assert done.returncode == 2
    error = error_document(done.stdout.decode("utf-8"))
    assert error["kind"] == "input"
    done.stderr.decode("utf-8")


# --- the echoed line shows an invisible character by its code point -----------------


def test_a_no_break_space_is_shown_by_its_code_point_under_a_caret() -> None:
    done = run("eval", "y = x\u00a0* 2", "--at", "x=1", expect=2)
    message, line, caret = done.stderr.splitlines()
    assert message == "error: unexpected character U+00A0 NO-BREAK SPACE; use a plain space"
    assert line == "  y = x<U+00A0>* 2"
    assert caret == "       ^^^^^^^^"
    assert "\ufffd" not in done.stderr


def test_a_control_character_in_a_later_line_is_shown_by_its_code_point() -> None:
    done = run("eval", "a = 1\nb = a\x1b+ x", "--at", "x=1", expect=2)
    assert done.stderr.splitlines()[1:] == [
        "  line 2 | b = a<U+001B>+ x",
        "         |      ^^^^^^^^",
    ]


# --- small things users reach for ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"), [("e", "2.718281828459045"), ("pi", "3.141592653589793")]
)
def test_at_a_constant_says_it_is_a_constant_and_how_to_shadow_it(name: str, value: str) -> None:
    done = run("eval", f"{name}*x", "--at", f"{name}=2,x=1", expect=2)
    assert done.stderr == (
        f"error: {name} is the constant {value}, not an input, so --at cannot set it; "
        f"to give {name} another value, assign it in the program ({name} = 2; ...), "
        "or call the input by another name\n"
    )
    # ... and the way the message gives works: e = 2 shadows the constant.
    shadowed = run("eval", f"{name} = 2; {name}*x", "--at", "x=1", "--no-check")
    assert "output  2.0" in shadowed.stdout


@pytest.mark.parametrize("header", ["# At:", "# AT:", "#at:", "# aT:"])
def test_an_at_line_in_any_case_is_read(tmp_path: Path, header: str) -> None:
    path = tmp_path / "p.bp"
    path.write_text(f"{header} x=3\nx*x\n", encoding="utf-8")
    done = run("eval", "-f", str(path), "--no-check")
    assert "output  9.0" in done.stdout  # 3*3
    assert "x  6.0" in done.stdout  # d(x*x)/dx = 2x = 6


@pytest.mark.parametrize(
    ("char", "named"),
    [
        ("\u2212", "'\u2212' (U+2212 MINUS SIGN); use '-' instead"),
        ("\u2013", "'\u2013' (U+2013 EN DASH); use '-' instead"),
    ],
)
def test_a_unicode_minus_in_an_at_value_is_named_as_in_the_program(char: str, named: str) -> None:
    at = run("eval", "x", "--at", f"x={char}1", expect=2)
    assert at.stderr == (
        "error: --at value for x must be a decimal number such as 2, -0.5 or 1e-3, "
        f"got '{char}1': it contains {named}\n"
    )
    program = run("eval", f"{char}x", "--at", "x=1", expect=2)
    assert f"unexpected character {named}" in program.stderr


# --- help ----------------------------------------------------------------------------


def _examples(help_text: str) -> list[list[str]]:
    """The example commands a help text shows, each as its arguments."""
    import shlex

    found = []
    for line in help_text.splitlines():
        line = line.strip()
        if line.startswith("backprop "):
            found.append(shlex.split(line.split("  #")[0])[1:])
    return found


@pytest.mark.parametrize("command", [[], ["eval"], ["explain"], ["graph"]], ids=str)
def test_help_has_real_examples_in_the_user_s_words(command: list[str]) -> None:
    help_text = run(*command, "--help").stdout
    assert "seed" not in help_text  # the tutorial, not "the seed"
    examples = _examples(help_text)
    assert len(examples) >= 3
    for args in examples:
        if not {"|", ">", "-o", "-"} & set(args):  # pipes, redirects, pictures, stdin
            run(*args)  # exits 0


@pytest.mark.slow
def test_shell_completion_as_the_readme_documents_it(tmp_path: Path) -> None:
    env = {**os.environ, "_BACKPROP_COMPLETE": "bash_source"}
    script = subprocess.run([*BACKPROP], env=env, capture_output=True, text=True, check=True)
    assert "_backprop_completion" in script.stdout
    path = tmp_path / "complete.bash"
    path.write_text(script.stdout, encoding="utf-8")
    # The script calls `backprop` by name: put this environment's first on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "backprop").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m backprop "$@"\n', encoding="utf-8"
    )
    (bindir / "backprop").chmod(0o755)
    shell = (
        f". {path}\n"
        "COMP_WORDS=(backprop ex); COMP_CWORD=1; _backprop_completion backprop\n"
        'echo "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(backprop graph --format ""); COMP_CWORD=3; COMPREPLY=()\n'
        '_backprop_completion backprop; echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", shell], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.splitlines() == ["explain", "text dot mermaid html"]


def test_a_command_without_json_writes_no_json_error() -> None:
    done = run("graph", "x", "--json", expect=2)
    assert done.stdout == ""
    assert "No such option" in done.stderr
