"""The documented limits: at each one everything works; one past it, a clean exit 2.

    program text      10,000,000 characters   (MAX_SOURCE)
    nesting depth        100,000 levels        (MAX_DEPTH: parentheses, calls, signs, powers)
    number literal           400 characters    (MAX_NUMBER, in the program and in --at)
    statements         1,000,000               (MAX_STATEMENTS)
    graph nodes        2,000,000               (MAX_NODES)

A program at the statement or node limit takes tens of seconds to build, so
those two are tested at a lowered limit (the same code path, the constant
patched); the others at their real values.
"""

from __future__ import annotations

import sys

import pytest
from backprop.cli.render import render_json, render_plain
from backprop.engine import evaluate
from backprop.engine.check import MAX_SECONDS
from backprop.parser import ParseError, parse
from backprop.parser.lang import MAX_DEPTH, MAX_NODES, MAX_NUMBER, MAX_SOURCE, MAX_STATEMENTS
from clirun import ROOT, run

# The module, not the function `parse` that the package exports under the same name.
PARSE_MODULE = sys.modules["backprop.parser.parse"]


def assert_clean_refusal(args: list[str], stdin: str | None, limit_text: str) -> None:
    """Exit 2, one `error:` message naming the limit, nothing on stdout, no traceback."""
    done = run(*args, stdin=stdin, expect=2)
    assert done.stdout == ""
    assert done.stderr.startswith("error: "), done.stderr[:200]
    assert limit_text in done.stderr.splitlines()[0]
    assert "Traceback" not in done.stderr


def test_the_limits_are_the_documented_ones() -> None:
    assert (MAX_SOURCE, MAX_DEPTH, MAX_NUMBER) == (10_000_000, 100_000, 400)
    assert (MAX_STATEMENTS, MAX_NODES) == (1_000_000, 2_000_000)


def test_the_readme_states_the_limits_the_code_enforces() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[0]: cells[1]
        for line in section.splitlines()
        if line.startswith("| ")
        and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 2
    }
    assert rows["program size"] == f"{MAX_SOURCE:,} characters"
    assert (
        rows["nesting depth (parentheses, calls, prefix signs and powers)"]
        == f"{MAX_DEPTH:,} levels"
    )
    assert rows["statements"] == f"{MAX_STATEMENTS:,}"
    assert rows["graph nodes (inputs, constants, operators and calls)"] == f"{MAX_NODES:,}"
    assert rows["one number literal"] == f"{MAX_NUMBER:,} characters"
    assert rows["`--check-seconds`"].startswith(f"{int(MAX_SECONDS):,} ")


# --- program size -------------------------------------------------------------------


def test_a_program_of_exactly_max_source_characters_evaluates() -> None:
    source = "x*2  # " + "." * (MAX_SOURCE - 7)
    assert len(source) == MAX_SOURCE
    result = evaluate(source, {"x": 1.5}, check=False)
    assert result.value == 3.0


def test_one_character_more_is_refused() -> None:
    source = "x*2  # " + "." * (MAX_SOURCE - 6)
    with pytest.raises(ParseError, match="10,000,000 characters"):
        parse(source)
    assert_clean_refusal(["eval", "-", "--at", "x=1"], source, "10,000,000 characters")


# --- nesting depth ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "source",
    [
        "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
        "-" * MAX_DEPTH + "x",
    ],
    ids=["parentheses", "signs"],
)
def test_nesting_at_the_limit_evaluates_and_renders(source: str) -> None:
    result = evaluate(source, {"x": 0.5}, check=False)
    assert result.value == 0.5  # an even number of signs, or parentheses only
    assert result.gradients == {"x": 1.0}
    render_plain(result)
    render_json(result)


@pytest.mark.slow
def test_nesting_one_level_deeper_exits_2() -> None:
    source = "1^" * (MAX_DEPTH + 1) + "x"
    assert_clean_refusal(["eval", "-", "--at", "x=1"], source, "100,000 levels")


# --- number length ------------------------------------------------------------------

LONGEST = "1." + "0" * (MAX_NUMBER - 2)  # 1.000…0, MAX_NUMBER characters


def test_a_number_of_max_number_characters_is_read() -> None:
    assert len(LONGEST) == MAX_NUMBER
    assert evaluate(f"x*{LONGEST}", {"x": 2.0}, check=False).value == 2.0
    done = run("eval", "x*2", "--at", f"x={LONGEST}", "--json", "--no-check")
    assert '"value": 2.0' in done.stdout


def test_a_number_one_character_longer_exits_2() -> None:
    longer = LONGEST + "0"
    assert_clean_refusal(["eval", f"x*{longer}", "--at", "x=1"], None, f"{MAX_NUMBER} characters")
    assert_clean_refusal(["eval", "x*2", "--at", f"x={longer}"], None, f"{MAX_NUMBER} characters")


# --- statements and nodes, at a lowered limit ----------------------------------------


def test_statements_up_to_the_limit_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PARSE_MODULE, "MAX_STATEMENTS", 1_000)
    source = "h = x\n" + "h = h + 1\n" * 998 + "h"
    result = evaluate(source, {"x": 0.0}, check=False)
    assert result.value == 998.0


def test_one_statement_more_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PARSE_MODULE, "MAX_STATEMENTS", 1_000)
    source = "h = x\n" + "h = h + 1\n" * 999 + "h"
    with pytest.raises(ParseError, match="too many statements"):
        parse(source)
    assert_clean_refusal(["eval", "-", "--at", "x=1"], source, "the limit is 1,000")


def test_nodes_up_to_the_limit_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("backprop.engine.build.MAX_NODES", 1_000)
    # x, then 999 additions: 1,000 nodes (the name x is one node however often used).
    source = "x" + "+x" * 999
    result = evaluate(source, {"x": 1.0}, check=False)
    assert len(result.nodes) == 1_000
    assert result.gradients == {"x": 1_000.0}


def test_one_node_more_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("backprop.engine.build.MAX_NODES", 1_000)
    source = "x" + "+x" * 1_000
    assert_clean_refusal(["eval", source, "--at", "x=1"], None, "over 1,000 nodes")
    # Constants count too: 2*pi is three nodes.
    assert_clean_refusal(["eval", "x" + "+2*pi" * 333, "--at", "x=1"], None, "over 1,000 nodes")
