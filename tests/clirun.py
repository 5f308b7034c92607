"""`run(*args)`: the `backprop` command line, in process, as a pipe would see it.

Click's CliRunner (click >= 8.2) keeps stdout and stderr apart, so tests
assert them separately. The environment is pinned the way golden files need
it: NO_COLOR set, no terminal, a fixed width, and FORCE_COLOR and
TTY_COMPATIBLE unset (either would make rich write colour codes into a
pipe). A test that expects a non-zero exit says which one with `expect=`.
"""

from __future__ import annotations

import os
import shlex
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backprop.cli.main import cli
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent

# None unsets a variable for the run.
PINNED_ENV: dict[str, str | None] = {
    "NO_COLOR": "1",
    "COLUMNS": "80",
    "LINES": "25",
    "TERM": "xterm-256color",  # a real terminal type: plainness must come from no TTY
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "CLICOLOR_FORCE": None,
}


@dataclass(frozen=True)
class Run:
    """What one command printed and how it exited."""

    stdout: str
    stderr: str
    exit_code: int


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    # contextlib.chdir is 3.11+; the project supports 3.10.
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _command(args: tuple[str, ...]) -> str:
    # Deep-nesting tests pass arguments of 100,000 characters: keep messages readable.
    shown = [arg if len(arg) <= 60 else arg[:40] + f"…({len(arg):,} chars)" for arg in args]
    return "backprop " + shlex.join(shown)


def run(
    *args: str,
    stdin: str | bytes | None = None,
    expect: int = 0,
    env: Mapping[str, str | None] | None = None,
) -> Run:
    """Run `backprop ARGS` from the repository root; fail unless it exits `expect`."""
    runner = CliRunner()
    with _cwd(ROOT):
        result = runner.invoke(
            cli,
            list(args),
            input=stdin,
            env={**PINNED_ENV, **(env or {})},
            prog_name="backprop",
            color=False,
        )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        trace = "".join(traceback.format_exception(*result.exc_info))
        raise AssertionError(f"{_command(args)} raised instead of exiting:\n{trace}")
    done = Run(result.stdout, result.stderr, result.exit_code)
    assert done.exit_code == expect, (
        f"{_command(args)} exited {done.exit_code}, expected {expect}\n"
        f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    )
    return done
