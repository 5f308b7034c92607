"""`backprop plot`: the value and its derivatives in one input, as a picture.

With -o FILE.svg or .png, matplotlib draws it (engine/plot.py); without, a
character plot on the terminal (plain characters when piped or NO_COLOR).
"""

from __future__ import annotations

from typing import Any

import click
from backprop.cli.main import (
    EXIT_OK,
    ProgramCommand,
    cli,
    handle_errors,
    program_options,
)
from backprop.parser import BackpropError, quote, shorten

PLOT_EXAMPLES = """
Examples:

\b
  backprop plot "tanh(x)" --grid x=-7:7:200 --order 3 -o tanh.svg
  backprop plot "relu(x - 1)*x" --grid x=-2:3:101                 # in the terminal
  backprop plot "log(x)*y" --grid x=-1:4:300 --at y=2 --order 2 -o log.png

\b
f(x) is the program's value; f', f'' and so on its derivatives in x, each
computed by differentiating the gradient graph again (not by differences).
Kinks (relu, abs at 0, a max tie) are dotted lines; points outside the
program's domain are crosses on the axis.
"""

MARKS = "*o+x#%@"
WIDTH, HEIGHT = 72, 20


@cli.command("plot", cls=ProgramCommand, epilog=PLOT_EXAMPLES)
@program_options
@click.option(
    "--grid",
    "grid",
    required=True,
    metavar="NAME=START:STOP:N",
    help="The input along the x axis: N points from START to STOP, both included.",
)
@click.option(
    "--order",
    type=click.IntRange(0, 6),
    default=1,
    show_default=True,
    help="Plot the derivatives up to this order (0: the value alone; at most 6).",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the picture to FILE (.svg or .png); without it, a plot in the terminal.",
)
@handle_errors
def plot_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    grid: str,
    order: int,
    output: str | None,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Plot PROGRAM and its derivatives in one input over a grid."""
    from backprop.cli.main import load

    if output is not None and not output.lower().endswith((".svg", ".png")):
        raise click.UsageError(f"-o needs a file name ending in .svg or .png, got {quote(output)}")
    source, point = load(program, path, at, source_box)
    from backprop.engine import plot as engine_plot
    from backprop.engine.point import parse_at
    from backprop.engine.stream import parse_grid

    parsed = parse_grid(grid)
    if parsed.name in dict(parse_at(at)):
        raise click.UsageError(f"{parsed.name} is given both by --grid and by --at: give it once")
    point.pop(parsed.name, None)  # the grid replaces a sample's '# at:' value
    data = engine_plot.plot_data(source, parsed, point, order)
    if output is not None:
        try:
            size = engine_plot.draw(data, output)
        except OSError as err:
            raise BackpropError(
                f"cannot write {shorten(output, tail=True)}: {err.strerror or err}", kind="io"
            ) from None
        click.echo(f"wrote {output} ({size:,} bytes)", err=True)
    else:
        click.echo(render_text(data), nl=False)
    failed = int(data.failed.sum())
    if failed:
        click.echo(
            f"note: {failed:,} of {len(data.x):,} points are outside the domain "
            f"(the first: {data.first_error})",
            err=True,
        )
    return EXIT_OK


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def render_text(data: Any) -> str:
    """A character plot: one mark per curve, the axes' ranges, a legend."""
    from backprop.engine.plot import curve_label, title

    xs = data.x.tolist()
    curves = [(c.order, c.y.tolist()) for c in data.curves]
    finite = [y for _, ys in curves for y in ys if y == y and abs(y) != float("inf")]
    lines = [title(data)]
    if not finite:
        lines.append("(no finite values to plot)")
        return "\n".join(lines) + "\n"
    low, high = min(finite), max(finite)
    if high == low:
        low, high = low - 1.0, high + 1.0
    # Halves, so that a range from -1e308 to 1e308 does not overflow to inf.
    x0, x1 = xs[0] / 2, xs[-1] / 2
    span = (x1 - x0) or 1.0
    xs = [x / 2 for x in xs]
    high_h, low_h = high / 2, low / 2
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]
    if low < 0 < high:  # the zero line
        row = round(high_h / (high_h - low_h) * (HEIGHT - 1))
        grid[row] = ["-"] * WIDTH
    for kink in data.kinks:
        col = round((kink / 2 - x0) / span * (WIDTH - 1))
        for r in range(HEIGHT):
            grid[r][col] = ":"
    for k, (_, ys) in enumerate(curves):
        mark = MARKS[k % len(MARKS)]
        for x, y in zip(xs, ys):
            if y != y or abs(y) == float("inf"):
                continue
            col = round((x - x0) / span * (WIDTH - 1))
            row = round((high_h - y / 2) / (high_h - low_h) * (HEIGHT - 1))
            grid[row][col] = mark
    for x, bad in zip(xs, data.failed.tolist()):
        if bad:
            grid[HEIGHT - 1][round((x - x0) / span * (WIDTH - 1))] = "X"
    label_width = max(len(_fmt(high)), len(_fmt(low)))
    for r, row_cells in enumerate(grid):
        label = _fmt(high) if r == 0 else _fmt(low) if r == HEIGHT - 1 else ""
        lines.append(f"{label.rjust(label_width)} |{''.join(row_cells)}".rstrip())
    lines.append(" " * label_width + " +" + "-" * WIDTH)
    left, right = _fmt(data.x[0]), _fmt(data.x[-1])
    lines.append(
        " " * (label_width + 2) + left + right.rjust(WIDTH - len(left)) + f"   {data.name}"
    )
    legend = [
        f"{MARKS[k % len(MARKS)]} {curve_label(o, data.name)}" for k, (o, _) in enumerate(curves)
    ]
    if data.kinks:
        legend.append(": kink (not differentiable) at " + ", ".join(_fmt(k) for k in data.kinks))
    if data.failed.any():
        legend.append("X outside the domain (no value)")
    lines.append("   ".join(legend))
    return "\n".join(lines) + "\n"
