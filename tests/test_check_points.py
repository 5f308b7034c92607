"""`backprop check --points FILE | --grid NAME=START:STOP:N`: claims judged at given points.

Expected values come from hand derivations evaluated with Python's math module
(d/dx x^2*sin(y) = 2*x*sin(y); d/dx x*sin(x)/(1+x^2) by the quotient rule) and
from numpy.linspace for the grid's points, not from the code under test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from clirun import ROOT, run

SCHEMA = json.loads((ROOT / "schema" / "check.schema.json").read_text(encoding="utf-8"))
PROGRAM = "x*sin(x)/(1+x^2)"
DROPPED_TERM = "x=(sin(x) + x*cos(x))/(1+x^2)"  # the quotient rule's second term left out


def true_derivative(x: float) -> float:
    return ((math.sin(x) + x * math.cos(x)) * (1 + x * x) - 2 * x * x * math.sin(x)) / (
        1 + x * x
    ) ** 2


def check_json(*args: str, expect: int = 0, stdin: str | None = None) -> dict:
    done = run("check", *args, "--json", expect=expect, stdin=stdin)
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_a_correct_claim_agrees_at_every_point_of_a_grid() -> None:
    # 5 x 4 = 20 points, the Cartesian product; no random points unless asked for
    doc = check_json(
        "x^2*sin(y)", "--claim", "x=2*x*sin(y)", "--grid", "x=-2:2:5", "--grid", "y=0:3:4"
    )
    (claim,) = doc["claims"]
    assert claim["verdict"] == "correct" and doc["status"] == "correct"
    assert claim["points"] == 20 and claim["replaced"] == {}
    assert doc["samples"] == 0 and doc["at"] is None
    assert doc["given_points"] == {"from": "--grid", "count": 20}


def test_samples_add_random_points_to_the_grid() -> None:
    doc = check_json(
        "x^2*sin(y)",
        "--claim",
        "x=2*x*sin(y)",
        "--grid",
        "x=-2:2:5",
        "--at",
        "y=1",
        "--samples",
        "7",
    )
    assert doc["samples"] == 7 and doc["claims"][0]["points"] == 5 + 7


def test_a_wrong_claims_counterexample_is_the_first_grid_point_where_it_differs() -> None:
    doc = check_json(PROGRAM, "--claim", DROPPED_TERM, "--grid", "x=0:3:13", expect=1)
    (claim,) = doc["claims"]
    assert claim["verdict"] == "wrong"
    grid = np.linspace(0, 3, 13)

    def claimed(x: float) -> float:
        return (math.sin(x) + x * math.cos(x)) / (1 + x * x)

    first = next(
        k
        for k, x in enumerate(grid)
        if not math.isclose(claimed(x), true_derivative(x), rel_tol=1e-9, abs_tol=1e-12)
    )
    assert first == 1  # at x = 0 the dropped term 2x^2 sin(x)/(1+x^2)^2 is 0
    ce = claim["counterexample"]
    assert ce["at"] == {"x": float(grid[first])}
    assert ce["true"] == pytest.approx(true_derivative(grid[first]), rel=1e-12)
    assert ce["claimed"] == pytest.approx(claimed(grid[first]), rel=1e-12)
    assert claim["points"] == first + 1
    assert claim["difference"] == "term"


def test_a_points_file_with_failing_points(tmp_path: Path) -> None:
    # sqrt(x)*y: undefined for x < 0 (the program); at x = 0 the claim divides by 0
    data = tmp_path / "points.csv"
    data.write_text("x,y\n4,1\n-1,2\n0,3\n9,-2\n")
    doc = check_json("sqrt(x)*y", "--claim", "x=y/(2*sqrt(x))", "--points", str(data))
    (claim,) = doc["claims"]
    assert claim["verdict"] == "correct"
    assert claim["points"] == 2
    assert claim["replaced"] == {"program undefined": 1, "claim undefined": 1}
    assert doc["given_points"] == {"from": str(data), "count": 4}


def test_a_wrong_claim_in_a_json_lines_file_from_stdin() -> None:
    lines = '{"x": 1, "y": 2}\n{"x": -1, "y": 0}\n{"x": 2, "y": 2}\n'
    doc = check_json("log(x)*y", "--claim", "x=y/x^2", "--points", "-", stdin=lines, expect=1)
    (claim,) = doc["claims"]
    # x=1: y/x^2 = y/x = 2 (agrees); x=-1: log undefined (skipped); x=2: 0.5 against 1
    assert claim["points"] == 2 and claim["replaced"] == {"program undefined": 1}
    ce = claim["counterexample"]
    assert ce["at"] == {"x": 2.0, "y": 2.0}
    assert (ce["claimed"], ce["true"]) == (0.5, 1.0)
    assert doc["given_points"]["from"] == "standard input"


def test_a_grid_point_at_a_kink_is_skipped() -> None:
    # d/dx relu(x)*x = 2*relu(x) away from 0; at 0 relu has no derivative
    done = run("check", "relu(x)*x", "--claim", "x=2*relu(x)", "--grid", "x=-1:1:5")
    assert done.stdout.splitlines()[0] == "points  5 from --grid"
    assert "equal within tolerance at 4 points (1 point skipped)" in done.stdout
    assert "   points skipped: 1 kink" in done.stdout


def test_the_table_names_the_points() -> None:
    done = run("check", "x^2", "--claim", "x=2*x", "--grid", "x=-1:1:3", "--samples", "4")
    lines = done.stdout.splitlines()
    assert lines[0] == "points  3 from --grid, and 4 random"
    assert "it agrees at 7 points" in done.stdout


def bad_points(tmp_path: Path) -> list[tuple[str, ...]]:
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("x,z\n1,2\n")
    cell = tmp_path / "cell.csv"
    cell.write_text("x,y\n1,2\n3,abc\n")
    return [
        ("--points", str(unknown)),
        ("--points", str(cell)),
        ("--grid", "x=0:1:10000", "--grid", "y=0:1:10000"),
        ("--grid", "z=0:1:3", "--at", "y=1"),
    ]


def test_bad_points_exit_2_with_the_points_mode_message(tmp_path: Path) -> None:
    for option in bad_points(tmp_path):
        mine = run("check", "x*y", "--claim", "x=y", *option, expect=2)
        theirs = run("eval", "x*y", *option, "--no-check", expect=2)
        assert mine.stderr == theirs.stderr and mine.stderr.startswith("error: ")
        assert mine.stdout == ""
    message = run("check", "x*y", "--claim", "x=y", *bad_points(tmp_path)[0], expect=2).stderr
    assert "the column 'z' is not an input; inputs are: x, y" in message


def test_points_and_grid_and_stdin_conflicts() -> None:
    run("check", "x", "--claim", "x=1", "--points", "a.csv", "--grid", "x=0:1:2", expect=2)
    run("check", "-f", "-", "--claim", "x=1", "--points", "-", stdin="x", expect=2)
    run("check", "x", "--claim", "x=1", "--points-format", "csv", expect=2)


@pytest.mark.parametrize(
    "source, claim",
    [
        ("max(x, y)*abs(x) + relu(y)", "x=where(x - y, 1, 0)*abs(x) + max(x, y)*sign(x)"),
        ("sqrt(x)*y^2 + log(y)", "y=2*y*sqrt(x) + 1/y"),
        ("x^y", "x=y*x^(y - 1)"),
    ],
)
def test_the_vectorised_judge_agrees_with_the_point_by_point_one(source: str, claim: str) -> None:
    # A grid with zeros, ties (x = y) and negative numbers: every row is judged by
    # the scalar judge as well, and the counts must be the same.
    from backprop.engine.build import build_graph
    from backprop.engine.claims import REASONS, _build, _Judge, claims_from_options
    from backprop.engine.claims_points import GivenPoints, judge_given
    from backprop.engine.points import from_graph
    from backprop.engine.stream import grid_blocks, parse_grid
    from backprop.parser import parse

    program = build_graph(parse(source))
    judge = _Judge(program, _build(source, program, claims_from_options([claim])[0]))
    compiled = from_graph(program)
    grids = [parse_grid("x=-2:2:9"), parse_grid("y=-2:2:9")]
    given = GivenPoints("--grid", 81, lambda: grid_blocks(compiled, grids, {}))
    found = judge_given(judge, compiled, given, 4, 1e-9, 1e-12)
    counts = dict.fromkeys(REASONS, 0)
    ok = 0
    for x in np.linspace(-2, 2, 9):
        for y in np.linspace(-2, 2, 9):
            outcome = judge.at({"x": float(x), "y": float(y)})[0]
            assert outcome != "differs"
            if outcome == "ok":
                ok += 1
            else:
                counts[outcome] += 1
    assert found.counterexample is None
    assert found.judged == ok
    assert found.replaced == {k: v for k, v in counts.items() if v}
    assert sum(counts.values()) > 0  # the grid does meet the program's troubles


def test_without_points_the_document_is_unchanged() -> None:
    doc = check_json("x^2", "--claim", "x=2*x", "--samples", "3")
    assert "given_points" not in doc and doc["samples"] == 3
    assert doc["claims"][0]["points"] == 3
