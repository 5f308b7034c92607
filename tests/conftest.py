"""Shared pytest set-up: the `--update-golden` option.

The command-line helper `run(*args, stdin=None, expect=0)` lives in
tests/clirun.py; test modules import it with `from clirun import run`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Let tests import their helper modules (clirun, ...) whatever the rootdir.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden files (tests/golden/*.txt, README examples) from the current "
        "output instead of comparing; review the result with `git diff`.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files."""
    return bool(request.config.getoption("--update-golden"))
