"""`backprop plot`: a program and its derivatives in one input over a grid.

The curves are the numpy interpreter (engine/points.py) run on the program and
on its derivative graphs: order 1 is the reverse-mode transform of the
program's graph, order 2 the transform of that derived graph, and so on
(`derivative_graph`), never a derivative written by hand or by finite
differences. A point where the program fails (log of a negative) is a gap
in every curve, marked; a point where a derivative alone is infinite or
undefined (sqrt' at 0) is a gap in that curve.

Kinks (where a gate is not differentiable: relu, abs, sign at 0, a max or min
tie, a where's switch) are found where a grid point sits on one (the gate
table's `kink` rule) or where the branch a gate takes changes between two
neighbouring grid points; the switch is then narrowed down by bisection.
matplotlib (Agg) draws the file; it is imported only here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from backprop.engine.errors import InputError
from backprop.engine.gates import GATES
from backprop.engine.points import Compiled, compile, derivative_graph, from_graph
from backprop.engine.stream import Grid, grid_axis
from backprop.parser import name_list, shorten

MAX_ORDER = 6
MAX_PLOT_POINTS = 100_000


# The branch a gate with a kink takes at its inputs: a kink lies between two points
# where it differs. Gates whose kink is a single point of their plane (pow at 0**0,
# atan2 and hypot at (0, 0)) are found only when a grid point sits on it.
def _winner(args: list[Any], better: Any) -> Any:
    best = args[0]
    index = np.zeros(np.shape(best))
    for k, x in enumerate(args[1:], 1):
        wins = better(x, best)
        best = np.where(wins, x, best)
        index = np.where(wins, k, index)
    return index


BRANCH: dict[str, Callable[..., Any]] = {
    "relu": lambda a: np.sign(a),
    "abs": lambda a: np.sign(a),
    "sign": lambda a: np.sign(a),
    "max": lambda *args: _winner(list(args), np.greater),
    "min": lambda *args: _winner(list(args), np.less),
    "where": lambda c, t, f: np.sign(c),
}
SIGNED = ("relu", "abs", "sign", "where")  # branch 0: on the kink itself (found above)
POINT_KINKS = ("pow", "atan2", "hypot")  # a kink only at one point: the gate's own rule


@dataclass(frozen=True)
class Curve:
    order: int
    y: Any  # float64 array, nan where undefined


@dataclass(frozen=True)
class PlotData:
    name: str  # the input along the x axis
    x: Any
    curves: tuple[Curve, ...]
    failed: Any  # bool array: the program fails there
    kinks: tuple[float, ...]
    fixed: dict[str, float]  # the other inputs' values
    source: str
    first_error: str  # the message at the first failed point ("" if none)


def plot_data(source: str, grid: Grid, fixed: Mapping[str, float], order: int) -> PlotData:
    """The curves of orders 0 to `order` over the grid; the other inputs from `fixed`."""
    compiled = compile(source)
    graph = compiled.graph
    if grid.name not in graph.inputs:
        inputs = name_list(list(graph.inputs)) if graph.inputs else "(none)"
        raise InputError(f"--grid {shorten(grid.name)}: not an input; inputs are: {inputs}")
    if grid.n > MAX_PLOT_POINTS:
        raise InputError(
            f"a plot takes at most {MAX_PLOT_POINTS:,} points, got {grid.n:,}", kind="limit"
        )
    others = [n for n in compiled.inputs if n != grid.name]
    missing = [n for n in others if n not in fixed]
    if missing:
        raise InputError(
            f"missing a value for {name_list(missing)} (give it with --at NAME=VALUE); "
            f"the plot varies {grid.name} only"
        )
    unknown = [n for n in fixed if n not in graph.inputs]
    if unknown:
        raise InputError(
            f"{name_list(unknown)} {'is not an input' if len(unknown) == 1 else 'are not inputs'}"
            f"; inputs are: {name_list(list(compiled.inputs))}"
        )
    if grid.name in fixed:
        raise InputError(f"{grid.name} is given both by --grid and by --at: give it once")
    x = grid_axis(grid)
    at: dict[str, Any] = {n: float(fixed[n]) for n in others}
    at[grid.name] = x
    base = compiled.evaluate(at)
    failed = np.asarray(base.failed)
    curves = [Curve(0, base.value)]
    current = graph
    for k in range(1, order + 1):
        if k == 1:
            y = base.gradients[grid.name]
        else:
            current = derivative_graph(current, grid.name)
            y = from_graph(current).evaluate(at).gradients[grid.name]
        curves.append(Curve(k, np.where(failed | ~np.isfinite(y), np.nan, y)))
    first_error = ""
    if failed.any():
        k = int(np.flatnonzero(failed)[0])
        error = compiled.error({**at, grid.name: float(x[k])})
        first_error = error.message if error else ""
    kinks = _kinks(compiled, at, grid.name, x, failed)
    fixed_values = {n: float(fixed[n]) for n in others}
    return PlotData(grid.name, x, tuple(curves), failed, kinks, fixed_values, source, first_error)


def _node_values(compiled: Compiled, at: Mapping[str, Any], name: str, xs: Any) -> list[Any]:
    """Every node's value at the points xs of the input `name` (the others as in `at`)."""
    n = len(xs)
    block = [
        np.asarray(xs, dtype=np.float64) if k == name else np.full(n, float(at[k]))
        for k in compiled.inputs
    ]
    with np.errstate(all="ignore"):
        values, _ = compiled._forward(block)
    return [np.broadcast_to(v, (n,)) for v in values]


def _kinks(
    compiled: Compiled, at: Mapping[str, Any], name: str, x: Any, failed: Any
) -> tuple[float, ...]:
    graph = compiled.graph
    live = compiled._live
    kinked = [
        i
        for i, node in enumerate(graph.nodes)
        if live[i] and node.inputs and GATES[node.op].kink is not None
    ]
    if not kinked or len(x) < 1:
        return ()
    values = _node_values(compiled, at, name, x)
    found: list[float] = []
    ok = ~failed
    for i in kinked:
        node = graph.nodes[i]
        gate = GATES[node.op]
        args = [values[j] for j in node.inputs]
        assert gate.kink is not None
        # A grid point on the kink: the gate's own rule says so.
        for k in np.flatnonzero(ok):
            if gate.kink(*[float(a[k]) for a in args], float(values[i][k])):
                found.append(float(x[k]))
        branch = BRANCH.get(node.op)
        if branch is None or len(x) < 2:
            continue
        with np.errstate(all="ignore"):
            side = branch(*args)
        switch = (side[1:] != side[:-1]) & ok[1:] & ok[:-1]
        if node.op in SIGNED:
            switch &= (side[1:] != 0) & (side[:-1] != 0)
        changes = np.flatnonzero(switch)
        if not len(changes):
            continue
        lo = x[changes].astype(np.float64)
        hi = x[changes + 1].astype(np.float64)
        left = side[changes]
        for _ in range(60):  # bisection, all the intervals at once
            mid = (lo + hi) / 2
            at_mid = _node_values(compiled, at, name, mid)
            with np.errstate(all="ignore"):
                now = branch(*[at_mid[j] for j in node.inputs])
            same = now == left
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        found.extend(float(v) for v in (lo + hi) / 2)
    return tuple(sorted(set(found)))


# --- the picture ----------------------------------------------------------------------------

PRIMES = {1: "\u2032", 2: "\u2033", 3: "\u2034"}


def curve_label(order: int, name: str) -> str:
    """f(x), f′(x), f″(x), f‴(x), f⁽⁴⁾(x): the reader's notation."""
    if order == 0:
        return f"f({name})"
    if order in PRIMES:
        return f"f{PRIMES[order]}({name})"
    digits = str(order).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"f⁽{digits}⁾({name})"


def title(data: PlotData) -> str:
    text = " ".join(line.split("#")[0].strip() for line in data.source.splitlines())
    text = "; ".join(part for part in (p.strip() for p in text.split(";")) if part)
    text = " ".join(text.split()).lstrip("\ufeff")
    fixed = ", ".join(f"{k}={v!r}" for k, v in data.fixed.items())
    head = f"f({data.name}) = {shorten(text, 70)}"
    return head + (f"   (at {fixed})" if fixed else "")


def broken_at_kinks(x: Any, y: Any, kinks: Any) -> tuple[Any, Any]:
    """The curve with a gap (nan) at each kink, where a derivative jumps; x ascending
    (a grid from START > STOP runs backwards: searchsorted needs it sorted)."""
    if not len(kinks):
        return x, y
    if len(x) > 1 and x[0] > x[-1]:
        x, y = x[::-1], y[::-1]
    where = np.searchsorted(x, kinks)
    return np.insert(x, where, kinks), np.insert(y, where, np.nan)


MAX_DRAWN = 1e300  # a larger number overflows matplotlib's axis ticks


def draw(data: PlotData, path: str) -> int:
    """The picture into `path` (.svg or .png); its size in bytes."""
    import os

    shown = np.concatenate([data.x, *(c.y for c in data.curves)])
    shown = np.abs(shown[np.isfinite(shown)])
    if shown.size and shown.max() > MAX_DRAWN:
        raise InputError(
            f"the numbers reach {float(shown.max()):.4g}: too large to draw in a picture "
            f"(up to {MAX_DRAWN:g}; matplotlib's axes overflow past it); "
            "the terminal plot (without -o) shows them",
            kind="limit",
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text in an SVG (searchable)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    try:
        for curve in data.curves:
            x, y = broken_at_kinks(data.x, curve.y, data.kinks if curve.order else [])
            ax.plot(x, y, label=curve_label(curve.order, data.name), linewidth=1.6)
        for k, kink in enumerate(data.kinks):
            ax.axvline(
                kink,
                color="0.45",
                linestyle=":",
                linewidth=1.2,
                label="kink: not differentiable" if k == 0 else None,
            )
        if data.failed.any():
            xs = data.x[data.failed]
            ax.plot(
                xs,
                np.zeros(len(xs)),
                linestyle="none",
                marker="x",
                color="crimson",
                label="outside the domain: no value",
            )
        ax.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
        ax.set_xlabel(data.name)
        ax.set_ylabel("value and derivatives")
        ax.set_title(title(data), fontsize=10)
        ax.legend(loc="best", fontsize=9)
        ax.grid(True, color="0.92")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return os.path.getsize(path)
