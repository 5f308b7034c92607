"""The Hessian's cost against n, beside torch.autograd.functional.hessian, in one run.

    pip install -e '.[bench]'          # torch==2.13.0 (CPU)
    python benchmarks/hessian.py       # n = 10, 50, 200; prints a Markdown table
    python benchmarks/hessian.py --quick

The program, with n inputs x0 ... x{n-1} (about 7n nodes; every pair of
inputs is coupled through the sigmoid, so the Hessian is dense):

    tanh(x0*x1) + tanh(x1*x2) + ... + tanh(x{n-1}*x0) + sigmoid(c0*x0 + ... + c{n-1}*x{n-1})^2

backprop: parse, forward, the reverse-mode transform and forward mode over
it along the n unit directions (`engine.hessian.second_derivatives`), the
matrix only (no check, no eigenvalues; those are timed apart). torch: the
same program written with the same scalar operations on the elements of one
float64 tensor (`x[i]`), and once vectorised (`torch.tanh(x * x.roll(-1))`),
each under `torch.autograd.functional.hessian`. Medians of a few repeats;
the ratios are backprop's time over torch's, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from backprop.engine.build import build_graph
from backprop.engine.derive import reverse
from backprop.engine.hessian import eigenvalues_of, second_derivatives
from backprop.engine.passes import forward
from backprop.parser import parse


def source(n: int) -> str:
    terms = " + ".join(f"tanh(x{i}*x{(i + 1) % n})" for i in range(n))
    linear = " + ".join(f"{0.1 * (i % 7 + 1):.1f}*x{i}" for i in range(n))
    return f"{terms} + sigmoid({linear})^2"


def point(n: int) -> dict[str, float]:
    return {f"x{i}": 0.1 * ((i * 37) % 11) - 0.5 for i in range(n)}


def ours(n: int) -> list[list[float]]:
    graph = build_graph(parse(source(n)))
    values = forward(graph, point(n))
    return second_derivatives(reverse(graph), values, list(graph.inputs), graph)


def median_seconds(func: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def torch_rows(n: int, repeats: int) -> tuple[float | None, float | None, float]:
    try:
        import torch
    except ImportError:
        return None, None, 0.0
    coefficients = [0.1 * (i % 7 + 1) for i in range(n)]
    c = torch.tensor(coefficients, dtype=torch.float64)
    x = torch.tensor([point(n)[f"x{i}"] for i in range(n)], dtype=torch.float64)

    def scalar(v: Any) -> Any:  # the same scalar operations as the program
        total = torch.tanh(v[0] * v[1 % n])
        for i in range(1, n):
            total = total + torch.tanh(v[i] * v[(i + 1) % n])
        s = coefficients[0] * v[0]
        for i in range(1, n):
            s = s + coefficients[i] * v[i]
        return total + torch.sigmoid(s) ** 2

    def vector(v: Any) -> Any:
        return torch.tanh(v * v.roll(-1)).sum() + torch.sigmoid((c * v).sum()) ** 2

    h = torch.autograd.functional.hessian
    slow = median_seconds(lambda: h(scalar, x), max(1, repeats if n <= 50 else 1))
    fast = median_seconds(lambda: h(vector, x), repeats)
    # The same numbers: the largest difference from backprop's matrix.
    mine = ours(n)
    theirs = h(vector, x).tolist()
    diff = max(abs(a - b) for ra, rb in zip(mine, theirs) for a, b in zip(ra, rb))
    return slow, fast, diff


def cell(t: float | None) -> str:
    return "n/a" if t is None else f"{t:.3g}"


def ratio(mine: float, t: float | None) -> str:
    return "n/a" if t is None else f"{mine / t:.2g}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 10 and 50 only")
    args = parser.parse_args()
    sizes = [10, 50] if args.quick else [10, 50, 200]
    repeats = 3
    print(
        "| n | program nodes | gradient graph nodes | backprop s | torch (scalar ops) s "
        "| ratio | torch (vectorised) s | ratio | eigenvalues s | largest difference |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        graph = build_graph(parse(source(n)))
        derived = reverse(graph)
        mine = median_seconds(lambda n=n: ours(n), repeats)
        matrix = ours(n)
        eig = median_seconds(lambda m=matrix: eigenvalues_of(m), 1)
        slow, fast, diff = torch_rows(n, repeats)

        print(
            f"| {n} | {len(graph.nodes):,} | {len(derived.ops):,} | {mine:.3g} | {cell(slow)} "
            f"| {ratio(mine, slow)} | {cell(fast)} | {ratio(mine, fast)} | {eig:.3g} | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
