"""Many points: `eval --points/--grid`, `compile(source).evaluate` on arrays, dask.

The reference for every number is the scalar engine at the same point (itself
tested against hand derivations, SymPy and finite differences), and for the
gates numpy computes, Python's `math`: the vectorised interpreter must give the
same floats where numpy's functions do (IEEE arithmetic, sqrt, sin, cos, ...)
and stay within a few ulps where numpy's functions differ by an ulp or two.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backprop.engine import evaluate
from backprop.engine.gates import GATES
from backprop.engine.points import NUMPY_FORWARDS, compile
from backprop.engine.stream import MAX_GRID_POINTS
from backprop.parser import BackpropError
from clirun import ROOT, run
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from strategies import programs

# --- helpers --------------------------------------------------------------------------------


def ulps(a: float, b: float) -> float:
    """How many units in the last place apart a and b are (0 when equal, nan == nan)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


def scalar(source: str, point: dict[str, float]) -> tuple[float, dict[str, float | None]] | str:
    """The scalar engine at one point: (value, gradients), or its error message."""
    try:
        result = evaluate(source, point, check=False)
    except BackpropError as err:
        return err.message
    return result.value, result.gradients


def worst_ulps(source: str, points: dict[str, np.ndarray]) -> float:
    """The largest ulp difference between the vectorised and the scalar engine over
    the points; failing points must fail in both, with the same message."""
    compiled = compile(source)
    got = compiled.evaluate(points)
    n = len(next(iter(points.values())))
    worst = 0.0
    for k in range(n):
        point = {name: float(points[name][k]) for name in compiled.inputs}
        expected = scalar(source, point)
        if isinstance(expected, str):
            assert got.failed[k], (source, point, expected)
            error = compiled.error(point)
            assert error is not None and error.message == expected
            continue
        assert not got.failed[k], (source, point, compiled.error(point))
        value, grads = expected
        worst = max(worst, ulps(value, float(got.value[k])))
        for name in compiled.inputs:
            g = grads[name]
            assert g is not None
            worst = max(worst, ulps(g, float(got.gradients[name][k])))
    return worst


# --- the table of numpy forwards ---------------------------------------------------------------


def test_every_gate_has_a_numpy_forward() -> None:
    gates = {name for name, gate in GATES.items() if gate.arity != 0}
    assert gates == set(NUMPY_FORWARDS)


@pytest.mark.parametrize("name", sorted(NUMPY_FORWARDS))
def test_numpy_forward_within_three_ulps_of_math(name: str) -> None:
    """The assumption behind the 4-ulp promise: each gate's numpy forward is within
    3 ulps of its math forward (most are equal); logsumexp is compared in ulps of
    its largest argument, since its result may cancel to near 0."""
    gate = GATES[name]
    rng = np.random.default_rng(7)
    arity = {-1: 3}.get(gate.arity, gate.arity)
    args = [rng.uniform(-4, 4, 2_000) for _ in range(arity)]
    if name in ("asin", "acos"):
        args = [a / 4 for a in args]
    with np.errstate(all="ignore"):
        got = NUMPY_FORWARDS[name](*args)
    for k in range(0, 2_000, 3):
        point = [float(a[k]) for a in args]
        try:
            expected = gate.forward(*point)
        except (ValueError, ZeroDivisionError, OverflowError):
            assert not math.isfinite(float(got[k])), (name, point)
            continue
        if name == "logsumexp":
            scale = max(abs(expected), *map(abs, point))
            assert abs(expected - float(got[k])) <= 3 * math.ulp(scale), point
        else:
            assert ulps(expected, float(got[k])) <= 3, (name, point, expected, float(got[k]))


# --- the same numbers as the scalar engine --------------------------------------------------------

# numpy and math give the same floats for these gates (IEEE arithmetic, and
# functions numpy computes as libm does): programs of them must agree bit for bit.
EXACT_PROGRAMS = [
    "(x+y)*z",
    "x*y/(z + 4) - sqrt(x*x + y*y)",
    "relu(x - y)*abs(z) + max(x, y, z) - min(x, 2*y)",
    "h = sin(x)*cos(y); h*h + erf(z)",
    "a = x*y; b = a/(1 + z*z); sqrt(abs(b)) + b",
]

# The corpus for the ulp bound (README, "Many points"): the samples and every gate.
CORPUS = [
    *[p.read_text(encoding="utf-8") for p in sorted((ROOT / "samples").glob("*.bp"))],
    "exp(x)*log(y)+sqrt(x*y)",
    "sin(x)*cos(y)+tan(x/4)",
    "asin(x/4)+acos(y/4)+atan(x*y)",
    "atan2(y, x)+hypot(x, y)",
    "erf(x)*sinh(y)+cosh(x)",
    "tanh(x)+sigmoid(y)+softplus(x-y)",
    "relu(x-y)+abs(x)*max(x,y,1)+min(x,y)",
    "logsumexp(x,y,1)",
    "log1p(x*x)+expm1(y/3)+log2(x*x+1)+log10(y*y+1)",
    "pow(x*x+1, y)+x^3",
    "h=tanh(x*y+0.5); h=tanh(h*x-y); h*h",
    "where(x, y, -y) + sign(x)*y + dtanh(x) + dsigmoid(y) + derf(x)",
]
CORPUS_ULPS = 512  # the largest difference measured on CORPUS (README, "Many points")


def _random_points(source: str, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(-3, 3, n) for name in compile(source).inputs}


@pytest.mark.parametrize("source", EXACT_PROGRAMS)
def test_bit_for_bit_where_numpy_and_math_agree(source: str) -> None:
    assert worst_ulps(source, _random_points(source, 200, 1)) == 0


@pytest.mark.parametrize("k", range(len(CORPUS)))
def test_corpus_within_the_documented_ulps(k: int) -> None:
    source = CORPUS[k]
    worst = worst_ulps(source, _random_points(source, 150, k))
    assert worst <= CORPUS_ULPS
    if k < 6:  # the samples: within the 4 ulps plus the perceptron's exp
        assert worst <= 8


@settings(max_examples=examples(60))
@given(programs())
def test_random_programs_agree_with_the_scalar_engine(generated) -> None:  # type: ignore[no-untyped-def]
    """Random programs of the whole language, at their point and nearby: the same
    failures with the same messages, and numbers within the documented drift."""
    source = generated.source
    names = compile(source).inputs
    rng = np.random.default_rng(0)
    points = {
        name: np.concatenate([[generated.point[name]], rng.uniform(-3, 3, 7)]) for name in names
    }
    if not names:
        return
    compiled = compile(source)
    got = compiled.evaluate(points)
    for k in range(8):
        point = {name: float(points[name][k]) for name in names}
        expected = scalar(source, point)
        if isinstance(expected, str):
            assert got.failed[k]
            error = compiled.error(point)
            assert error is not None and error.message == expected
            continue
        assert not got.failed[k], compiled.error(point)
        value, grads = expected
        pairs = [(value, float(got.value[k]))]
        pairs += [(grads[n], float(got.gradients[n][k])) for n in names]
        for a, b in pairs:
            assert a is not None
            # An ulp of difference in one function (numpy's exp, tanh) can grow
            # through cancellation; relative to the result it stays tiny.
            assert ulps(a, b) <= 4 or abs(a - b) <= 1e-9 * max(1.0, abs(a)), (point, a, b)


_LEAVES = st.sampled_from(["x", "y", "z", "0.5", "2", "3"])


@st.composite
def _arithmetic(draw: st.DrawFn, depth: int = 4) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(_LEAVES)
    kind = draw(st.sampled_from(["+", "-", "*", "/", "sqrt", "abs", "relu", "max", "sin"]))
    a = draw(_arithmetic(depth - 1))
    if kind in ("sqrt", "abs", "relu", "sin"):
        return f"{kind}({a})"
    b = draw(_arithmetic(depth - 1))
    return f"max({a}, {b})" if kind == "max" else f"({a} {kind} {b})"


@settings(max_examples=examples(60))
@given(_arithmetic(), st.lists(st.floats(-5, 5), min_size=3, max_size=3))
def test_arithmetic_programs_bit_for_bit(source: str, start: list[float]) -> None:
    """IEEE arithmetic and the functions numpy computes as math does: the same floats,
    and the same errors (division by zero, sqrt of a negative) at the same points."""
    if not compile(source).inputs:
        return
    points = {
        name: np.array([start[k], start[k] * -1.5, 0.0, 1.0])
        for k, name in enumerate(["x", "y", "z"])
        if name in compile(source).inputs
    }
    assert worst_ulps(source, points) == 0


SCHEMA = json.loads((ROOT / "schema" / "points.schema.json").read_text(encoding="utf-8"))


def jsonl(text: str) -> list[dict]:
    """JSON Lines output, each line strict JSON and as the schema says."""
    import jsonschema

    def refuse(token: str) -> None:
        raise AssertionError(f"non-strict JSON token {token}")

    rows = [json.loads(line, parse_constant=refuse) for line in text.splitlines()]
    for row in rows:
        jsonschema.validate(row, SCHEMA)
    return rows


# --- errors at some points --------------------------------------------------------------------


def test_error_rows_carry_the_scalar_message_and_the_others_are_written() -> None:
    done = run("eval", "log(x) + 1/y", "--grid", "x=-1:1:3", "--grid", "y=0:1:2", expect=2)
    rows = jsonl(done.stdout)
    assert rows[-1]["check"]["status"] == "ok"
    rows = rows[:-1]
    assert [r["at"] for r in rows] == [
        {"x": x, "y": y} for x in (-1.0, 0.0, 1.0) for y in (0.0, 1.0)
    ]
    for row in rows:
        at = row["at"]
        single = run(
            "eval",
            "log(x) + 1/y",
            "--at",
            f"x={at['x']},y={at['y']}",
            "--json",
            "--no-check",
            expect=2 if "error" in row else 0,
        )
        if "error" in row:
            assert row["error"] == {
                k: v for k, v in json.loads(single.stdout)["error"].items() if k != "span"
            }
        else:
            document = json.loads(single.stdout)
            assert row["value"] == document["value"] and row["gradients"] == document["gradients"]
    # x = 1, y = 1: log(1) + 1/1 = 1; d/dx = 1/x = 1, d/dy = -1/y^2 = -1 (by hand)
    assert rows[-1] == {
        "at": {"x": 1.0, "y": 1.0},
        "value": 1.0,
        "gradients": {"x": 1.0, "y": -1.0},
    }
    assert "5 of 6 points failed" in done.stderr
    assert "log needs a positive argument, got -1.0" in done.stderr


def test_an_infinite_gradient_is_null_not_an_error() -> None:
    # sqrt(x) at 0: value 0, gradient 1/(2*0) = inf (eval's rule: a note, not an error)
    done = run("eval", "sqrt(x)", "--grid", "x=0:1:2", "--no-check")
    rows = jsonl(done.stdout)
    assert rows == [
        {"at": {"x": 0.0}, "value": 0.0, "gradients": {"x": None}},
        {"at": {"x": 1.0}, "value": 1.0, "gradients": {"x": 0.5}},
    ]


def test_a_constant_error_fails_every_point() -> None:
    done = run(
        "eval", "x + log(-1)", "--grid", "x=0:1:3", "--no-check", "--format", "csv", expect=2
    )
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["error"] for r in table] == ["log needs a positive argument, got -1.0"] * 3


# --- files --------------------------------------------------------------------------------------


def test_csv_points_with_at_and_the_check(tmp_path: Path) -> None:
    data = tmp_path / "points.csv"
    data.write_text("x,y\n-2,5\n1,2\n")
    done = run("eval", "(x+y)*z", "--points", str(data), "--at", "z=-4", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    # the seed's circuit at (-2, 5, -4): value -12, gradients -4, -4, 3;
    # at (1, 2, -4) by hand: (1 + 2)*-4 = -12, d_x = d_y = z = -4, d_z = x + y = 3
    assert [(r["value"], r["d_x"], r["d_y"], r["d_z"]) for r in table] == [
        ("-12", "-4", "-4", "3"),
        ("-12", "-4", "-4", "3"),
    ]
    assert list(table[0]) == ["x", "y", "z", "value", "d_x", "d_y", "d_z", "error"]
    assert "check   sympy: ok; checked 2 of 2 points (every point)" in done.stderr


def test_jsonl_points_from_stdin() -> None:
    lines = '{"x": 3, "y": -4}\n\n{"x": 1.5, "y": 0}\n'
    done = run("eval", "-f", "samples/staged.bp", "--points", "-", "--no-check", stdin=lines)
    rows = jsonl(done.stdout)
    assert [r["at"] for r in rows] == [{"x": 3.0, "y": -4.0}, {"x": 1.5, "y": 0.0}]
    single = json.loads(run("eval", "-f", "samples/staged.bp", "--json", "--no-check").stdout)
    assert rows[0]["value"] == single["value"]  # the sample's own point, x=3, y=-4


def test_program_and_points_cannot_both_come_from_stdin() -> None:
    done = run("eval", "-", "--points", "-", stdin="x", expect=2)
    assert "cannot both come from standard input" in done.stderr


def test_empty_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    done = run("eval", "x*y", "--points", str(empty), expect=2)
    assert "empty.csv is empty: a CSV file needs a header row naming the inputs (x, y)" in (
        done.stderr
    )
    header_only = tmp_path / "header.csv"
    header_only.write_text("x,y\n")
    done = run("eval", "x*y", "--points", str(header_only), "--format", "csv")
    assert done.stdout.splitlines() == ['"x","y","value","d_x","d_y","error"']
    nothing = tmp_path / "empty.jsonl"
    nothing.write_text("")
    done = run("eval", "x*y", "--points", str(nothing), "--no-check")
    assert done.stdout == ""


def test_a_header_naming_an_unknown_input(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("x,q\n1,2\n")
    done = run("eval", "x*y", "--points", str(data), expect=2)
    assert "p.csv: the column 'q' is not an input; inputs are: x, y" in done.stderr


def test_a_missing_column(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("x\n1\n")
    done = run("eval", "x*y", "--points", str(data), expect=2)
    assert "missing a value for y: " in done.stderr and "no such column and no --at" in done.stderr
    assert run("eval", "x*y", "--points", str(data), "--at", "y=3", "--no-check").stdout == (
        '{"at": {"x": 1.0, "y": 3.0}, "value": 3.0, "gradients": {"x": 3.0, "y": 1.0}}\n'
    )
    done = run("eval", "x*y", "--points", str(data), "--at", "x=3,y=1", expect=2)
    assert "x is given both by" in done.stderr


def test_a_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("x,y\n1,2\n3, 4\n5,abc\n")
    done = run("eval", "x*y", "--points", str(data), "--format", "csv", expect=2)
    assert "p.csv, line 4, column y: the cell is 'abc', not a number" in done.stderr
    data.write_text("x,y\n1,\n")
    done = run("eval", "x*y", "--points", str(data), expect=2)
    assert "p.csv, line 2, column y: the cell is empty" in done.stderr
    lines = tmp_path / "p.jsonl"
    lines.write_text('{"x": 1, "y": 2}\n{"x": "one", "y": 2}\n')
    done = run("eval", "x*y", "--points", str(lines), expect=2)
    assert 'p.jsonl, line 2, x: "one" is not a number' in done.stderr


def test_a_huge_grid_is_refused_with_its_limit() -> None:
    done = run("eval", "x*y", "--grid", "x=0:1:100000", "--grid", "y=0:1:1000", expect=2)
    assert f"the grid has 100,000,000 points, over the limit of {MAX_GRID_POINTS:,}" in done.stderr
    done = run("eval", "x*y", "--grid", "x=0:1:100000", "--grid", "y=0:1:1000", "--json", expect=2)
    run("eval", "x", "--grid", "x=0:1", expect=2)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    """A run's output read back as points gives the same rows (numbers in full)."""
    source = "h = tanh(w*x + b); h*h"
    first = tmp_path / f"first.{fmt}"
    run("eval", source, "--grid", "w=-1:1:4", "--grid", "x=-2:2:3", "--at", "b=0.1",
        "-o", str(first), "--no-check")  # fmt: skip
    second = tmp_path / f"second.{fmt}"
    run("eval", source, "--points", str(first), "-o", str(second), "--no-check")
    assert first.read_bytes() == second.read_bytes()
    if fmt == "jsonl":
        rows = [json.loads(line) for line in first.read_text().splitlines()]
        assert len(rows) == 12
        for row in rows[:3]:
            single = evaluate(source, row["at"], check=False)
            assert ulps(row["value"], single.value) <= 4
            assert all(ulps(row["gradients"][k], single.gradients[k]) <= 4 for k in "wxb")
    else:
        table = list(csv.DictReader(first.open()))
        assert len(table) == 12
        for row in table[:3]:
            at = {k: float(row[k]) for k in ("w", "x", "b")}
            single = evaluate(source, at, check=False)
            assert ulps(float(row["value"]), single.value) <= 4
            assert all(ulps(float(row[f"d_{k}"]), single.gradients[k]) <= 4 for k in at)


def test_summary_format() -> None:
    done = run("eval", "log(x)", "--grid", "x=-1:2:4", "--format", "summary", expect=2)
    assert done.stdout.splitlines()[0] == "points  4 from --grid, 2 failed"
    assert "  point 1: log needs a positive argument, got -1.0" in done.stdout
    assert ["d_x", "0.5", "1.0"] in [line.split() for line in done.stdout.splitlines()]  # 1/x


def test_format_and_output_need_points() -> None:
    done = run("eval", "x", "--at", "x=1", "--format", "csv", expect=2)
    assert "go with --points or --grid" in done.stderr


# --- the check at many points ----------------------------------------------------------------


def test_check_counts_kinks_as_not_applicable() -> None:
    done = run("eval", "relu(x)", "--grid", "x=-1:1:3")
    check = jsonl(done.stdout)[-1]["check"]
    assert check["counts"]["n/a"] == 1 and check["counts"]["ok"] == 2  # relu at 0
    assert check["status"] == "n/a"


def test_check_finds_a_wrong_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    import backprop.engine.points as points_module

    wrong = replace(GATES["sin"], vjp=lambda L, g, a, out: (g * L.sin(a),))
    monkeypatch.setitem(GATES, "sin", wrong)
    compiled = compile("sin(x)")
    monkeypatch.setattr(points_module, "compile", lambda source: compiled)
    done = run("eval", "sin(x)", "--grid", "x=0.5:1:3", expect=1)
    check = json.loads(done.stdout.splitlines()[-1])["check"]
    assert check["status"] in ("mismatch", "inaccurate")


# --- the Python API and dask -------------------------------------------------------------------


def test_api_on_arrays_of_any_length_and_numbers() -> None:
    compiled = compile("1/(1+exp(-(w0*x0+w1*x1+w2)))")
    got = compiled.evaluate({"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": np.array([-3.0])})
    # the seed's perceptron (SPEC.md): value 0.7310585786300049, d_w0 -0.19661193324148185
    assert got.value[0] == pytest.approx(0.7310585786300049, rel=1e-12)
    assert got.gradients["w0"][0] == pytest.approx(-0.19661193324148185, rel=1e-12)
    for n in (0, 1, 5, 100_003):
        x = np.linspace(-1, 1, n)
        got = compile("x*x").evaluate({"x": x})
        assert got.value.shape == (n,) and np.array_equal(got.gradients["x"], 2 * x)
    with pytest.raises(BackpropError, match="missing a value for y"):
        compile("x*y").evaluate({"x": 1.0})


def test_dask_chunk_by_chunk_on_the_local_scheduler() -> None:
    import dask
    import dask.array as da

    x = da.linspace(-3, 3, 10_001, chunks=1_000)
    compiled = compile("tanh(x)*y")
    got = compiled.evaluate({"x": x, "y": 2.0})
    with dask.config.set(scheduler="threads"):
        value, grad, failed = dask.compute(got.value, got.gradients["x"], got.failed)
    plain = compiled.evaluate({"x": x.compute(), "y": 2.0})
    assert np.array_equal(value, plain.value) and np.array_equal(grad, plain.gradients["x"])
    assert not failed.any()
    # by hand: d/dx tanh(x)*2 = 2*(1 - tanh(x)^2)
    assert np.allclose(grad, 2 * (1 - np.tanh(x.compute()) ** 2), rtol=1e-14)


def test_single_point_eval_imports_none_of_the_points_libraries() -> None:
    code = (
        "import sys; from backprop.cli.main import main; sys.argv = ['backprop', 'eval', 'x*y', "
        "'--at', 'x=1,y=2', '--no-check']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('numpy', 'pyarrow', 'matplotlib', 'dask', 'backprop.engine.points')\n"
        "sys.stderr.write(repr(sorted(m for m in heavy if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stderr == "[]"


def test_the_readme_dask_recipe_runs_on_the_local_scheduler(capsys: pytest.CaptureFixture) -> None:
    """The README's recipe, run as it is written (no client: dask's local threads)."""
    import pickle
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    recipes = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "dask.compute" in b]
    assert len(recipes) == 1
    exec(compile_recipe(recipes[0]), {})  # our own README's code, not user text
    printed = capsys.readouterr().out
    match = re.fullmatch(r"mean d/dw0 over 4,000,000 points: (-?[0-9.]+); failed: 0\n", printed)
    assert match is not None, printed
    mean = match.group(1)
    # by hand: d/dw0 = s(1 - s)*x0 with s = sigmoid(2*x0 - 3*x1 - 3); its mean, in numpy
    import dask.array as da

    x0 = da.random.default_rng(0).normal(size=4_000_000, chunks=500_000).compute()
    x1 = da.random.default_rng(1).normal(size=4_000_000, chunks=500_000).compute()
    s = 1 / (1 + np.exp(-(2 * x0 - 3 * x1 - 3)))
    assert float(mean) == pytest.approx(float(np.mean(s * (1 - s) * x0)), abs=1e-6)
    # a worker gets the compiled program by pickle: it is rebuilt from its graph
    program = compile("x*y")
    again = pickle.loads(pickle.dumps(program))
    assert again.evaluate({"x": np.array([2.0]), "y": 3.0}).gradients["x"].tolist() == [3.0]


def compile_recipe(code: str) -> object:
    import builtins

    return builtins.compile(code, "README.md (dask recipe)", "exec")


def test_a_cell_that_is_not_finite_fails_its_point_only(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("x\n1\nnan\n1e400\n2\n")
    done = run("eval", "x*x", "--points", str(data), "--no-check", expect=2)
    rows = jsonl(done.stdout)
    assert rows[0] == {"at": {"x": 1.0}, "value": 1.0, "gradients": {"x": 2.0}}
    assert rows[1] == {
        "at": {"x": None},
        "error": {"kind": "input", "message": "the value of x must be a finite number, got nan"},
    }
    assert rows[2]["error"]["message"] == "the value of x must be a finite number, got inf"
    assert rows[3] == {"at": {"x": 2.0}, "value": 4.0, "gradients": {"x": 4.0}}


def test_the_check_samples_one_point_in_a_hundred_past_its_budget() -> None:
    from backprop.engine.points_check import SAMPLE_EVERY, PointsCheck
    from backprop.engine.stream import Block, evaluate_rows

    compiled = compile("x*sin(x)")
    checker = PointsCheck(compiled, seconds=5.0)
    checker.prepare()
    x = np.linspace(0, 1, 1_000)
    checker.add(evaluate_rows(compiled, Block([x[:500]], 0)))
    checker.spent = 10.0  # the budget is spent: from here, one point in a hundred
    checker.add(evaluate_rows(compiled, Block([x[500:]], 500)))
    document = checker.document()
    assert SAMPLE_EVERY == 100
    assert document["checked"] == 500 + 5  # points 500, 600, 700, 800, 900
    assert document["counts"]["ok"] == 505 and document["points"] == 1_000
    assert document["status"] == "partial"
    assert "then one in 100" in document["message"]
