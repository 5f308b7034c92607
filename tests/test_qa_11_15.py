"""Regressions found by a QA pass over many points (`eval --points/--grid`, `plot`)
and the page (`graph --format html`, `explain --html`).

Expected numbers are derived by hand in the comments, never from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

from clirun import run


def test_output_file_that_is_the_points_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    # Opening -o for writing first would empty the file the points are read from.
    points = tmp_path / "p.csv"
    points.write_text("x,y\n1,2\n3,4\n")
    done = run("eval", "x*y", "--points", str(points), "-o", str(points), "--no-check", expect=2)
    assert "same file" in done.stderr
    assert "Traceback" not in done.stderr
    assert points.read_text() == "x,y\n1,2\n3,4\n"


def test_plot_to_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "no such folder" / "a.svg"
    done = run("plot", "tanh(x)", "--grid", "x=-1:1:5", "-o", str(target), expect=2)
    assert "cannot write" in done.stderr
    assert "internal error" not in done.stderr


def test_an_input_named_check_is_a_point_not_a_check_line(tmp_path: Path) -> None:
    # {"check": 3} is a point when the program reads `check`: 2*check = 6, slope 2.
    points = tmp_path / "p.jsonl"
    points.write_text('{"check": 3}\n{"check": {"method": "sympy", "status": "ok"}}\n')
    done = run("eval", "2*check", "--points", str(points), "--no-check")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    # The second line is a previous run's check line (an object): skipped, as on read-back.
    assert rows == [{"at": {"check": 3.0}, "value": 6.0, "gradients": {"check": 2.0}}]


def test_grid_between_the_largest_floats_has_its_ends_and_middle() -> None:
    # -1e308..1e308 in 3 points: -1e308, 0, 1e308 (STOP - START overflows to inf,
    # which must not turn the points into nan or inf). x*y at y=1: value x, d_x 1, d_y x.
    done = run("eval", "x*y", "--grid", "x=-1e308:1e308:3", "--at", "y=1", "--no-check")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["at"]["x"] for r in rows] == [-1e308, 0.0, 1e308]
    assert [r["gradients"]["y"] for r in rows] == [-1e308, 0.0, 1e308]
    assert "Warning" not in done.stderr


def test_plot_of_numbers_near_the_largest_float_does_not_crash(tmp_path: Path) -> None:
    # x*1e300 over -1e8..1e8 runs from -1e308 to 1e308: finite, but max - min overflows.
    done = run("plot", "x*1e300", "--grid", "x=-1e8:1e8:5")
    assert "1e+308" in done.stdout and "-1e+308" in done.stdout  # the axis labels
    done = run("plot", "x", "--grid", "x=-1e308:1e308:5")
    assert "1e+308" in done.stdout
    # A picture file: matplotlib's axes cannot span this; a clear refusal, not a crash.
    done = run("plot", "x*1e300", "--grid", "x=-1e8:1e8:5", "-o", str(tmp_path / "a.svg"), expect=2)
    assert "too large to draw" in done.stderr


def test_a_picture_breaks_the_derivative_at_the_kink_on_a_backward_grid() -> None:
    import numpy as np
    from backprop.engine.plot import broken_at_kinks

    # abs(x - 0.5)' is +1 right of 0.5 and -1 left of it; the gap goes between x=1 and x=0,
    # whichever way the grid runs.
    for x in (np.array([-1.0, 0.0, 1.0, 2.0]), np.array([2.0, 1.0, 0.0, -1.0])):
        slope = np.where(x > 0.5, 1.0, -1.0)
        bx, by = broken_at_kinks(x, slope, [0.5])
        assert bx.tolist() == [-1.0, 0.0, 0.5, 1.0, 2.0]
        assert np.isnan(by[2]) and by[[0, 1, 3, 4]].tolist() == [-1.0, -1.0, 1.0, 1.0]


def test_grid_errors_name_the_grid_not_at() -> None:
    done = run("eval", "x*y", "--grid", "x=a:1:3", "--at", "y=1", expect=2)
    assert "--grid value for x" in done.stderr and "--at" not in done.stderr
    done = run("eval", "x*y", "--grid", "=0:1:2", "--at", "y=1", expect=2)
    assert "--grid expects NAME=START:STOP:N" in done.stderr


def test_rows_before_a_bad_line_are_written(tmp_path: Path) -> None:
    # README: a cell that is not a number stops the run "(rows before that line are
    # already written)": x*y at (1, 2) is 2, slopes 2 and 1.
    good = {"at": {"x": 1.0, "y": 2.0}, "value": 2.0, "gradients": {"x": 2.0, "y": 1.0}}
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("x,y\n1,2\n3,abc\n5,6\n")
    done = run("eval", "x*y", "--points", str(csv_file), "--no-check", expect=2)
    assert [json.loads(line) for line in done.stdout.splitlines()] == [good]
    assert "line 3, column y" in done.stderr
    csv_file.write_text("x,y\n1,2\n3,4\nzz,abc\n")  # two bad cells on line 4: the first named
    done = run("eval", "x*y", "--points", str(csv_file), "--no-check", expect=2)
    assert len(done.stdout.splitlines()) == 2
    assert "line 4, column x" in done.stderr
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"x": 1, "y": 2}\n[1, 2]\n{"x": 5, "y": 6}\n')
    done = run("eval", "x*y", "--points", str(jsonl), "--no-check", expect=2)
    assert [json.loads(line) for line in done.stdout.splitlines()] == [good]
    assert "line 2" in done.stderr


def test_at_naming_something_that_is_not_an_input_is_an_error_at_many_points() -> None:
    # As at one point (`eval x*y --at x=1,y=2,q=3` exits 2 naming q).
    done = run("eval", "x*y", "--grid", "x=0:1:2", "--at", "y=2,q=3", "--no-check", expect=2)
    assert "q is not an input" in done.stderr and done.stdout == ""
    done = run(
        "eval", "x*y", "--points", "-", "--at", "y=2,q=3", "--no-check", stdin="x\n1\n", expect=2
    )
    assert "q is not an input" in done.stderr


def test_a_csv_header_cell_past_pythons_field_limit_is_a_clear_error(tmp_path: Path) -> None:
    points = tmp_path / "p.csv"
    points.write_text("x," + "y" * 200_000 + "\n1,2\n")
    done = run("eval", "x*y", "--points", str(points), "--no-check", expect=2)
    assert "header" in done.stderr and "internal error" not in done.stderr


def test_explain_html_with_direction_is_refused_as_without_html() -> None:
    # `explain --direction x=1` without --forward is a usage error; --html must not ignore it.
    done = run("explain", "x*y", "--at", "x=1,y=2", "--html", "--direction", "x=1", expect=2)
    assert "--direction goes with --forward" in done.stderr and done.stdout == ""


def test_single_point_options_are_refused_at_many_points_not_ignored() -> None:
    # `--output a` asked for a = x*y (1 at x=y=1) but the rows were the last output b = x+y.
    for extra in (["--output", "a"], ["--fd"], ["--direction", "x=1"]):
        done = run("eval", "a=x*y; b=x+y", "--grid", "x=0:1:3", "--at", "y=1", *extra, expect=2)
        assert "--points and --grid write rows" in done.stderr and done.stdout == ""


def test_check_at_many_points_calls_an_overflowed_gradient_inaccurate_as_at_one() -> None:
    # d/dx log(x) = 1/x: at x = 1e-320 that is 1e320, past float64 (the engine's inf), while
    # the exact gradient is finite: SPEC's "inaccurate", exit 1, as `eval --at x=1e-320`.
    done = run("eval", "log(x)", "--grid", "x=1e-320:1e-320:1", expect=1)
    check = json.loads(done.stdout.splitlines()[-1])["check"]
    assert check["status"] == "inaccurate" and check["counts"]["inaccurate"] == 1
    # sqrt at 0: the exact slope is infinite too, so the engine's inf is right: ok.
    done = run("eval", "sqrt(x)", "--grid", "x=0:1:3")
    assert json.loads(done.stdout.splitlines()[-1])["check"]["status"] == "ok"


def test_summary_of_no_points(tmp_path: Path) -> None:
    # A header and no rows: 0 points, no ranges, exit 0 (it was an internal error).
    points = tmp_path / "p.csv"
    points.write_text("x,y\n")
    done = run("eval", "x*y", "--points", str(points), "--format", "summary", "--no-check")
    assert done.stdout.startswith("points  0 from ")
    assert "ranges" not in done.stdout


def test_a_full_disk_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    # /dev/full fails every write with ENOSPC: the rows (-o) and stdout both.
    import subprocess
    import sys

    commands = [
        ["eval", "x*y", "--grid", "x=0:1:5", "--at", "y=1", "--format", "csv", "-o", "/dev/full"],
        ["eval", "x*y", "--grid", "x=0:1:5", "--at", "y=1", "--no-check"],
        ["eval", "x", "--at", "x=1", "--json"],
        ["graph", "x", "--at", "x=1", "--format", "html"],
    ]
    for args in commands:
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "backprop", *args],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        assert done.returncode == 2, (args, done.stderr)
        assert "No space left on device" in done.stderr and "Traceback" not in done.stderr


def test_rows_to_dash_go_to_stdout() -> None:
    # `-o -` is standard output (as _open_output reads it); x*y at (1, 1): 1, slopes 1 and 1.
    done = run("eval", "x*y", "--grid", "x=1:1:1", "--at", "y=1", "-o", "-", "--no-check")
    assert json.loads(done.stdout) == {
        "at": {"x": 1.0, "y": 1.0},
        "value": 1.0,
        "gradients": {"x": 1.0, "y": 1.0},
    }
    done = run("eval", "x*y", "--grid", "x=1:1:1", "--at", "y=1", "-o", "-", "--format", "csv")
    assert done.stdout.splitlines()[1] == "1,1,1,1,1,"
