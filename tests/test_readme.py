"""The README's examples are real: each ```console block is run and compared.

A block holds one `$ backprop ...` command and the exact output it prints
(stdout, then stderr), run without a terminal and with NO_COLOR, as a pipe
would see it. `python -m pytest tests/test_readme.py --update-golden`
rewrites the blocks; review the change with `git diff README.md`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]*)\n(?P<output>.*?)```", re.S)


def run_command(command: str) -> str:
    """Run a README command as a user would in the repository root (no TTY)."""
    args = shlex.split(command)
    assert args[0] == "backprop", f"README example does not run backprop: {command}"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(NO_COLOR="1", COLUMNS="100")
    done = subprocess.run(
        [sys.executable, "-m", "backprop", *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def blocks() -> list[tuple[str, str]]:
    return [(m["command"], m["output"]) for m in BLOCK.finditer(README.read_text())]


def test_readme_has_examples() -> None:
    commands = [command for command, _ in blocks()]
    assert any("samples/perceptron.bp" in c for c in commands)
    assert any("--json" in c for c in commands)


@pytest.mark.parametrize("command, output", blocks(), ids=[c for c, _ in blocks()])
def test_readme_example(command: str, output: str, request: pytest.FixtureRequest) -> None:
    actual = run_command(command)
    if request.config.getoption("--update-golden", default=False):
        text = README.read_text()
        old = f"```console\n$ {command}\n{output}```"
        README.write_text(text.replace(old, f"```console\n$ {command}\n{actual}```"))
        return
    assert actual == output
