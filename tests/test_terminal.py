"""The table on a real terminal: every width from 60 columns up shows honest numbers.

On a terminal, `backprop eval` draws a rich table sized to the terminal. At
any width a number is shown in full or correctly rounded (never cut), the id
column is never empty, no column shrinks to a stub, and where something had
to give, one line under the table says what and how to see all of it.

Two kinds of test:
- the installed `backprop` script in a pseudo-terminal (os.openpty), at 60,
  80, 100, 120 and 200 columns, against golden files in tests/golden/terminal/
  (colour codes stripped so they read as the terminal shows them;
  `pytest --update-golden` rewrites them, `git diff tests/golden` reviews);
- the same renderer in process at every width from 60 to 250, each number
  cell read back and compared with the value `--json` gives.

`--no-color` is checked here too: in a terminal it gives exactly what
NO_COLOR=1 gives.
"""

from __future__ import annotations

import fcntl
import functools
import io
import json
import os
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path

import pytest
from backprop.cli.render import (
    HEADERS,
    MIN_EXPRESSION_WIDTH,
    _fit_note,
    layout,
    render_json,
    render_rich,
)
from backprop.engine import evaluate
from backprop.engine.point import defaults
from clirun import ROOT, run
from rich.cells import cell_len

GOLDEN = Path(__file__).resolve().parent / "golden" / "terminal"
BACKPROP = Path(sys.executable).parent / "backprop"  # the installed console script
GOLDEN_WIDTHS = (60, 80, 100, 120, 200)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
NUMBER_COLUMNS = {"value": "value", "grad": "grad", "sympy": "sympy_grad"}


@dataclass(frozen=True)
class Screen:
    """What a terminal received: the raw bytes as text, and the exit code."""

    raw: str
    stderr: str
    exit_code: int

    @property
    def text(self) -> str:
        """As the terminal shows it: colour codes gone, line ends as in a file."""
        return ANSI.sub("", self.raw)


def on_terminal(*args: str, columns: int, lines: int = 50, **env: str | None) -> Screen:
    """Run the installed `backprop ARGS` with its stdout on a pseudo-terminal `columns` wide."""
    return _on_terminal(args, columns, lines, tuple(sorted(env.items())))


@functools.cache  # several tests read the same screen: run it once
def _on_terminal(
    args: tuple[str, ...], columns: int, lines: int, env_items: tuple[tuple[str, str | None], ...]
) -> Screen:
    env = dict(env_items)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NO_COLOR", "FORCE_"))}
    for name in ("TTY_COMPATIBLE", "CLICOLOR_FORCE", "COLUMNS", "LINES"):
        environ.pop(name, None)
    environ.update(COLUMNS=str(columns), LINES=str(lines), TERM="xterm-256color")
    environ.update({k: v for k, v in env.items() if v is not None})
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    # Output post-processing off: the terminal driver would turn "\n" into "\r\n".
    attrs = termios.tcgetattr(child)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(child, termios.TCSANOW, attrs)
    process = subprocess.Popen(
        [str(BACKPROP), *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=environ,
    )
    os.close(child)
    received = bytearray()
    try:
        while select.select([main], [], [], 60)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(main)
    stderr = process.communicate(timeout=60)[1]
    return Screen(received.decode("utf-8"), stderr.decode("utf-8"), process.returncode)


# --- reading a drawn table back ---------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """A terminal table read back: its headers and, per line, its cells."""

    headers: list[str]
    rows: list[list[str]]  # one per drawn line; a wrapped expression continues on the next
    widths: list[int]  # the drawn width of each column's cells
    lines: list[str]  # every line of the table, borders included
    after: list[str]  # the lines under the table


def read_table(text: str) -> Drawn:
    lines = text.split("\n")
    top = next(k for k, line in enumerate(lines) if line.startswith("┏"))
    bottom = next(k for k, line in enumerate(lines) if line.startswith("└"))
    header = lines[top + 1]
    assert header.startswith("┃") and lines[top + 2].startswith("┡")
    headers = [cell.strip() for cell in header.strip("┃").split("┃")]
    widths = [cell_len(cell) - 2 for cell in header.strip("┃").split("┃")]
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in lines[top + 3 : bottom]]
    return Drawn(headers, rows, widths, lines[top : bottom + 1], lines[bottom + 1 :])


def is_rounding_of(shown: str, x: float | None) -> bool:
    """True if `shown` is x in full (repr) or x correctly rounded to the digits shown."""
    if x is None:  # JSON null: a non-finite gradient
        return shown in ("inf", "-inf", "nan")
    if shown == repr(x):
        return True
    mantissa = shown.lstrip("-").partition("e")[0]
    digits = len(mantissa.replace(".", "").lstrip("0")) or 1
    if not re.fullmatch(r"-?\d+(\.\d+)?(e[+-]\d+)?", shown):
        return False  # a bare point, a cut exponent, an ellipsis: not a number as written
    return float(shown) == float(f"{x:.{digits}g}")


def check_honest(text: str, document: dict, width: int, footer_in_full: bool = True) -> Drawn:
    """The assertions every terminal table must pass, whatever the width."""
    drawn = read_table(text)
    nodes = document["nodes"]
    # Every header is a whole column name, in the table's order.
    assert drawn.headers == [h for h in HEADERS if h in drawn.headers], drawn.headers
    assert {"id", "gate", "value", "grad"} <= set(drawn.headers)
    # Nothing wider than the terminal.
    assert all(cell_len(line) <= width for line in drawn.lines), width
    # No stub: a column is as wide as its header, and a wrapped expression keeps some room.
    for header, w in zip(drawn.headers, drawn.widths):
        assert w >= len(header)
    if "expression" in drawn.headers:
        longest = max(len(node["text"]) for node in nodes)
        assert drawn.widths[drawn.headers.index("expression")] >= min(longest, MIN_EXPRESSION_WIDTH)
    # The id column: each node once, in order; a line without an id only continues a
    # wrapped expression.
    column = {h: k for k, h in enumerate(drawn.headers)}
    ids = []
    for row in drawn.rows:
        assert len(row) == len(drawn.headers)
        if row[column["id"]]:
            ids.append(int(row[column["id"]]))
            node = nodes[ids[-1]]
            for header, key in NUMBER_COLUMNS.items():
                if header in column and row[column[header]]:
                    assert is_rounding_of(row[column[header]], node.get(key)), (
                        f"node {node['id']} {header}: {row[column[header]]!r} is not "
                        f"{node.get(key)!r} rounded (width {width})"
                    )
        else:
            assert "expression" in column and row[column["expression"]]
            assert all(not cell for k, cell in enumerate(row) if k != column["expression"])
    assert ids == list(range(len(nodes)))
    if not footer_in_full:
        return drawn
    # The footer's numbers are in full.
    footer = "\n".join(drawn.after)
    assert f"output  {repr(document['value'])}" in footer
    for name, grad in document["gradients"].items():
        shown = re.search(rf"^  {re.escape(name)} +(\S+)$", footer, re.M)
        assert shown, f"no gradient line for {name}"
        assert shown[1] == repr(grad) if grad is not None else shown[1] in ("inf", "-inf", "nan")
    return drawn


# --- golden files: the perceptron at five widths ----------------------------------


def render_terminal_golden(width: int, args: str, screen: Screen) -> str:
    return (
        f"# the perceptron on a terminal {width} columns wide, as it shows it (colours left out)\n"
        f"# args: {args}\n"
        f"# terminal: COLUMNS={width} TERM=xterm-256color, NO_COLOR and FORCE_COLOR unset\n"
        f"--- stdout\n{screen.text}--- stderr\n{screen.stderr}--- exit\n{screen.exit_code}\n"
    )


@pytest.fixture(scope="module")
def perceptron_json() -> dict:
    return json.loads(run("eval", "-f", "samples/perceptron.bp", "--json").stdout)


@pytest.mark.parametrize("width", GOLDEN_WIDTHS)
def test_perceptron_on_a_terminal(width: int, perceptron_json: dict, update_golden: bool) -> None:
    args = "eval -f samples/perceptron.bp"
    screen = on_terminal(*shlex.split(args), columns=width)
    assert screen.exit_code == 0, screen.stderr
    assert "\x1b[" in screen.raw  # the terminal path: rich with colour, not the plain table
    drawn = check_honest(screen.text, perceptron_json, width)
    assert drawn.headers[:2] == ["id", "gate"]
    actual = render_terminal_golden(width, args, screen)
    path = GOLDEN / f"perceptron_{width}.txt"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"{path} is missing: run pytest --update-golden and review it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{path.name} differs: if the change is intended, run "
        "`python -m pytest tests/test_terminal.py --update-golden`, then review "
        "`git diff tests/golden`"
    )


def test_no_stray_terminal_golden_files(update_golden: bool) -> None:
    known = {f"perceptron_{width}.txt" for width in GOLDEN_WIDTHS}
    stray = sorted(p.name for p in GOLDEN.glob("*.txt") if p.name not in known)
    if update_golden:
        for name in stray:
            (GOLDEN / name).unlink()
        return
    assert not stray, f"terminal golden files with no test: {stray}"


def test_short_widths_give_up_the_expression_then_the_inputs_then_digits() -> None:
    table = {
        w: read_table(on_terminal("eval", "-f", "samples/perceptron.bp", columns=w).text)
        for w in (60, 100, 200)
    }
    assert "expression" in table[200].headers and "inputs" in table[200].headers
    assert "expression" not in table[100].headers and "inputs" in table[100].headers
    assert "inputs" not in table[60].headers
    # Where something was left out, the line under the table says so and how to see all.
    assert table[200].after[0] == ""
    assert table[100].after[0].startswith("expression column left out;")
    assert "--json" in table[100].after[0] and "130 columns" in table[100].after[0]
    assert "7 digits" in table[60].after[0] and "--json" in table[60].after[0]


# --- every width from 60 to 250, in process ---------------------------------------

LONG = " + ".join(f"exp(-(w{k}*x{k} + b{k})) * 1.25e-7" for k in range(3))
CASES = {
    **{
        name: (ROOT / "samples" / f"{name}.bp").read_text()
        for name in ("circuit", "perceptron", "staged", "tanh_neuron", "relu_max", "fanout")
    },
    "long_expression_small_numbers": LONG,
    "kink_and_infinite_gradient": "relu(x - 1) * y + sqrt(x - 1)",
}
POINTS = {
    "long_expression_small_numbers": {
        **{f"w{k}": 0.1 * (k + 1) for k in range(3)},
        **{f"x{k}": -3.3 + k for k in range(3)},
        **{f"b{k}": 1e-3 * k for k in range(3)},
    },
    "kink_and_infinite_gradient": {"x": 1.0, "y": 2.0},
}


def draw(renderable: object, width: int) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system="truecolor")
    console.print(renderable)
    return ANSI.sub("", buffer.getvalue())


@pytest.mark.parametrize(
    ("name", "precision"),
    [(name, None) for name in CASES]
    + [("perceptron", 3), ("long_expression_small_numbers", 3), ("staged", 17)],
)
def test_every_width_from_60_to_250_shows_honest_numbers(name: str, precision: int | None) -> None:
    source = CASES[name]
    result = evaluate(source, POINTS.get(name) or dict(defaults(source)))
    document = json.loads(render_json(result))
    drawn_for: dict[tuple[object, str], int] = {}
    for width in range(60, 251):
        fit = layout(result, precision, width)
        note = _fit_note(fit, width)
        if (fit, note) in drawn_for:
            # The same layout and note draw the same table at any wider width (the table is
            # not stretched): checked once, at the narrowest.
            continue
        drawn_for[fit, note] = width
        text = draw(render_rich(result, precision, width), width)
        drawn = check_honest(text, document, width, footer_in_full=precision is None)
        assert drawn.after[0] == note
        if fit.hidden or fit.digits:
            assert "--json" in note and cell_len(note) <= width
        else:
            assert note == ""
    assert len(drawn_for) > 1 or name in ("circuit", "fanout")  # the widths did change something


def test_a_table_with_no_room_is_wrapped_between_words_rather_than_cut() -> None:
    result = evaluate(CASES["perceptron"], dict(defaults(CASES["perceptron"])))
    fit = layout(result, None, 30)
    assert not fit.fits
    text = draw(render_rich(result, None, 30), 30)
    words = text.split()
    # Each number to 1 significant digit, as a whole word: -0.19661193324148188 is -0.2.
    assert words.count("-0.2") == 2 * 2  # w0 and node 11, grad and sympy
    assert words.count("0.7") == 1  # the output, 0.731...
    assert words.count("0.4") == 3  # exp's value 0.3678..., x0's grad 0.3932... twice
    assert "--json" in text


# --- --no-color ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("eval", "-f", "samples/perceptron.bp"),
        ("explain", "-f", "samples/circuit.bp"),
        ("graph", "-f", "samples/circuit.bp"),
    ],
    ids=["eval", "explain", "graph"],
)
def test_no_color_flag_is_no_color_variable(args: tuple[str, ...]) -> None:
    coloured = on_terminal(*args, columns=80)
    flag = on_terminal(*args, "--no-color", columns=80)
    variable = on_terminal(*args, columns=80, NO_COLOR="1")
    assert "\x1b[" in coloured.raw
    assert "\x1b" not in flag.raw
    assert (flag.raw, flag.stderr, flag.exit_code) == (
        variable.raw,
        variable.stderr,
        variable.exit_code,
    )
    # And plain means the piped bytes, whatever the width.
    assert flag.raw == run(*args).stdout
