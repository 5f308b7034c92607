"""`backprop plot`: derivatives of higher order by differentiating the derived graph
again, kinks and domain failures marked, the picture written and read back.

Expected numbers are hand derivations: tanh' = 1 - t^2, tanh'' = -2t(1 - t^2),
tanh''' = -2(1 - t^2)(1 - 3t^2) with t = tanh(x); x*sin(x) has derivatives
sin + x cos, 2 cos - x sin, -3 sin - x cos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from backprop.engine.plot import plot_data
from backprop.engine.stream import Grid
from clirun import run


def test_tanh_up_to_order_three_matches_the_hand_derivatives() -> None:
    data = plot_data("tanh(x)", Grid("x", -7.0, 7.0, 200), {}, 3)
    t = np.tanh(data.x)
    expected = [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2)]
    assert [c.order for c in data.curves] == [0, 1, 2, 3]
    for curve, hand in zip(data.curves, expected):
        assert np.allclose(curve.y, hand, rtol=1e-9, atol=1e-15)
    assert not data.failed.any() and data.kinks == ()


def test_a_product_with_a_sample_point_for_the_other_inputs() -> None:
    data = plot_data("x*sin(x)*y", Grid("x", -3.0, 3.0, 61), {"y": 2.0}, 3)
    x = data.x
    hand = [
        2 * x * np.sin(x),
        2 * (np.sin(x) + x * np.cos(x)),
        2 * (2 * np.cos(x) - x * np.sin(x)),
        2 * (-3 * np.sin(x) - x * np.cos(x)),
    ]
    for curve, expected in zip(data.curves, hand):
        assert np.allclose(curve.y, expected, rtol=1e-12, atol=1e-13)


def test_kinks_between_grid_points_are_found_by_bisection() -> None:
    # relu(x - 1)*x switches at x = 1, abs(x + 1) at x = -1; 100 points miss both
    data = plot_data("relu(x - 1)*x + abs(x+1)", Grid("x", -2.0, 3.0, 100), {}, 1)
    assert len(data.kinks) == 2
    assert data.kinks[0] == pytest.approx(-1.0, abs=1e-12)
    assert data.kinks[1] == pytest.approx(1.0, abs=1e-12)


def test_a_kink_on_a_grid_point_and_a_max_tie() -> None:
    data = plot_data("max(x, 0.5) + abs(x)", Grid("x", -1.0, 1.0, 5), {}, 1)
    assert data.kinks == (0.0, 0.5)  # abs at the grid point 0, the tie at 0.5


def test_points_outside_the_domain_are_gaps() -> None:
    data = plot_data("log(x)", Grid("x", -1.0, 3.0, 5), {}, 2)
    assert data.failed.tolist() == [True, True, False, False, False]
    assert np.isnan(data.curves[2].y[:2]).all()
    # log'' = -1/x^2 at 1, 2, 3
    assert data.curves[2].y[2:].tolist() == pytest.approx([-1.0, -0.25, -1 / 9], rel=1e-15)
    assert data.first_error == "log needs a positive argument, got -1.0"


def test_svg_written_with_labels_and_legend(tmp_path: Path) -> None:
    path = tmp_path / "tanh.svg"
    done = run("plot", "tanh(x)", "--grid", "x=-7:7:200", "--order", "3", "-o", str(path))
    assert done.stdout == ""
    assert done.stderr.startswith(f"wrote {path} (")
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for label in ("f(x)", "f′(x)", "f″(x)", "f‴(x)", "value and derivatives", "f(x) = tanh(x)"):
        assert label in text, label


def test_png_written_and_read_back(tmp_path: Path) -> None:
    import matplotlib.image

    path = tmp_path / "kinks.png"
    run("plot", "relu(x - 1)*x + log(x + 1.5)", "--grid", "x=-2:3:101", "-o", str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(str(path))
    assert image.shape[:2] == (500, 800)
    assert image.std() > 0.05  # not a blank picture


def test_terminal_plot_has_axes_and_a_legend() -> None:
    done = run("plot", "relu(x - 1)*x + abs(x+1)", "--grid", "x=-2:3:101")
    lines = done.stdout.splitlines()
    assert lines[0] == "f(x) = relu(x - 1)*x + abs(x+1)"
    assert lines[-1] == "* f(x)   o f′(x)   : kink (not differentiable) at -1, 1"
    assert lines[-2].split() == ["-2", "3", "x"]
    done = run("plot", "log(x)", "--grid", "x=-1:3:9", "--order", "0")
    assert "X outside the domain (no value)" in done.stdout
    assert "note: 3 of 9 points are outside the domain" in done.stderr


def test_plot_errors() -> None:
    assert "not an input" in run("plot", "x", "--grid", "y=0:1:3", expect=2).stderr
    assert "missing a value for y" in run("plot", "x*y", "--grid", "x=0:1:3", expect=2).stderr
    done = run("plot", "x", "--grid", "x=0:1:3", "-o", "x.pdf", expect=2)
    assert ".svg or .png" in done.stderr
    run("plot", "x", "--grid", "x=0:1:3", "--order", "7", expect=2)
