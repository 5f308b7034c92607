"""Benchmarks, in one run on one machine: start-up, forward+backward per node, the check, memory.

    pip install -e '.[bench]'        # numpy, torch==2.13.0 (CPU), micrograd==0.1.0
    python benchmarks/run.py          # about 10 minutes; prints Markdown tables
    python benchmarks/run.py --quick  # smaller sizes and fewer repeats, for a smoke test

Every figure is a median over repeats, and the ratios compare figures taken
in the same run, so they mean something on a noisy machine where absolute
times do not. micrograd and PyTorch rows appear when they are installed.

1. Cold start: `backprop eval ... --no-check --json` and the table output,
   against `python -c pass` and `python -c "import click"` (each a fresh
   process; the target: --no-check --json within 1.5x the click import).
2. Forward plus backward per node on a deep chain (`h = tanh(a*h + b)`
   repeated) and a wide sum (`sigmoid(w0*x0 + ... + b)`), 1,000 to 1,000,000
   nodes, against the floor: a plain Python forward evaluation of the same
   arithmetic (the target: at most 30x the floor per node at 1,000,000 nodes).
   micrograd needs its recursion limit lifted (it fails with a RecursionError
   on a 1,000-step chain otherwise, which the run shows); tanh and sigmoid are
   added to it the way its own operations are written.
3. The cross-check's cost against graph size, and which kind of check the
   nodes got (SymPy's whole-program derivative, or gate by gate).
4. Peak memory (ru_maxrss of a fresh process) of a 1,000,000-node evaluation.
5. Reading a large program (benchmarks/reading.py, which also runs alone):
   the whole command against micrograd, peak memory, reading against compile().
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from backprop.engine.build import build_graph
from backprop.engine.check import cross_check
from backprop.engine.passes import backward, forward
from backprop.parser import parse

# --- the two programs, as text and as plain Python ------------------------------------------


def chain_source(steps: int) -> str:
    """`h = tanh(a*h + b)` repeated: three nodes (mul, add, tanh) per step."""
    return "h = x\n" + "h = tanh(a*h + b)\n" * steps + "h"


def chain_point() -> dict[str, float]:
    return {"x": 0.5, "a": 0.9, "b": 0.1}


def chain_floor(steps: int, point: dict[str, float]) -> float:
    h, a, b = point["x"], point["a"], point["b"]
    tanh = math.tanh
    for _ in range(steps):
        h = tanh(a * h + b)
    return h


def sum_source(terms: int) -> str:
    """`sigmoid(w0*x0 + ... + b)`: four nodes (two inputs, mul, add) per term."""
    return "sigmoid(" + " + ".join(f"w{i}*x{i}" for i in range(terms)) + " + b)"


def sum_point(terms: int) -> dict[str, float]:
    point = {f"w{i}": ((i % 7) - 3) / 7 for i in range(terms)}
    point.update({f"x{i}": ((i % 5) - 2) / 5 for i in range(terms)})
    point["b"] = 0.1
    return point


def sum_floor(terms: int, point: dict[str, float]) -> float:
    ws = [point[f"w{i}"] for i in range(terms)]
    xs = [point[f"x{i}"] for i in range(terms)]
    s = 0.0
    for w, x in zip(ws, xs):
        s = s + w * x
    s = s + point["b"]
    return 1.0 / (1.0 + math.exp(-s))


PROGRAMS = {
    # name: (nodes per unit, source, point, floor)
    "chain": (3, chain_source, lambda n: chain_point(), chain_floor),
    "sum": (4, sum_source, sum_point, sum_floor),
}


def median_time(func: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `func()` over `repeats` runs, the collector paused as in a CLI run."""
    times = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times)


# --- micrograd and PyTorch, when installed ------------------------------------------------------


def micrograd_tanh() -> Callable[[Any], Any]:
    """tanh for micrograd's Values (micrograd has none), written as its own ops are."""
    from micrograd.engine import Value

    def tanh(v: Any) -> Any:
        out = Value(math.tanh(v.data), (v,), "tanh")

        def _backward() -> None:
            v.grad += (1 - out.data**2) * out.grad

        out._backward = _backward
        return out

    return tanh


def micrograd_runner(program: str, units: int, point: dict[str, float]) -> Callable[[], None]:
    from micrograd.engine import Value

    tanh = micrograd_tanh()

    def sigmoid(v: Any) -> Any:
        out = Value(1 / (1 + math.exp(-v.data)), (v,), "sigmoid")

        def _backward() -> None:
            v.grad += out.data * (1 - out.data) * out.grad

        out._backward = _backward
        return out

    def run() -> None:
        if program == "chain":
            h, a, b = Value(point["x"]), Value(point["a"]), Value(point["b"])
            for _ in range(units):
                h = tanh(a * h + b)
            h.backward()
        else:
            ws = [Value(point[f"w{i}"]) for i in range(units)]
            xs = [Value(point[f"x{i}"]) for i in range(units)]
            s = ws[0] * xs[0]
            for w, x in zip(ws[1:], xs[1:]):
                s = s + w * x
            sigmoid(s + Value(point["b"])).backward()

    return run


def torch_runner(program: str, units: int, point: dict[str, float]) -> Callable[[], None]:
    import torch

    def leaf(x: float) -> Any:
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    def run() -> None:
        if program == "chain":
            h, a, b = leaf(point["x"]), leaf(point["a"]), leaf(point["b"])
            for _ in range(units):
                h = torch.tanh(a * h + b)
            h.backward()
        else:
            ws = [leaf(point[f"w{i}"]) for i in range(units)]
            xs = [leaf(point[f"x{i}"]) for i in range(units)]
            s = ws[0] * xs[0]
            for w, x in zip(ws[1:], xs[1:]):
                s = s + w * x
            torch.sigmoid(s + leaf(point["b"])).backward()

    return run


def installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def micrograd_recursion_note() -> str:
    """What micrograd does on a 1,000-step chain at Python's default recursion limit."""
    if not installed("micrograd"):
        return "micrograd is not installed"
    run = micrograd_runner("chain", 1_000, chain_point())
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000)
    try:
        run()
    except RecursionError:
        return "micrograd on a 1,000-step chain at the default recursion limit: RecursionError"
    finally:
        sys.setrecursionlimit(limit)
    return "micrograd on a 1,000-step chain at the default recursion limit: no error"


# --- 1. cold start -----------------------------------------------------------------------


def cold_start(repeats: int) -> list[tuple[str, float]]:
    # The console script installed with this interpreter (not a pyenv or
    # other shim found first on PATH, which adds its own start-up).
    script = os.path.join(os.path.dirname(sys.executable), "backprop")
    backprop = script if os.path.exists(script) else shutil.which("backprop")
    command = [backprop] if backprop else [sys.executable, "-m", "backprop"]
    args = ["eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4"]
    unset = ("FORCE_COLOR", "TTY_COMPATIBLE", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    # With bytecode caches, as an installed package has them (pip compiles on
    # install; a checkout writes them on first use): in a directory of their
    # own, filled by one warm-up run of each command.
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="backprop-bench-pyc-")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ('python -c "import click"', [sys.executable, "-c", "import click"]),
        ("backprop eval ... --no-check --json", [*command, *args, "--no-check", "--json"]),
        ("backprop eval ... --no-check (table)", [*command, *args, "--no-check"]),
        ("backprop eval ... (table, SymPy check)", [*command, *args]),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _, argv in cases:
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    for _ in range(repeats):
        for name, argv in cases:  # interleaved, so that load changes hit every case alike
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    return [(name, statistics.median(values)) for name, values in times.items()]


# --- 2. forward + backward per node ---------------------------------------------------------


def per_node(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for program in PROGRAMS:
        for size in sizes:
            reps = repeats if size <= 100_000 else max(1, repeats // 2)
            rows.append(_per_node_row(program, size, reps))
            print(f"  {program} {size:,} nodes done", file=sys.stderr, flush=True)
    return rows


def _per_node_row(program: str, size: int, reps: int) -> dict[str, Any]:
    per_unit, source_of, point_of, floor_of = PROGRAMS[program]
    units = size // per_unit
    point = point_of(units)
    graph = build_graph(parse(source_of(units)))
    nodes = len(graph.nodes)
    row: dict[str, Any] = {"program": program, "nodes": nodes}
    row["floor"] = median_time(lambda: floor_of(units, point), reps) / nodes
    row["backprop"] = median_time(lambda: backward(graph, forward(graph, point)), reps) / nodes
    if installed("micrograd"):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10 * nodes + 1_000))
        try:
            row["micrograd"] = median_time(micrograd_runner(program, units, point), reps) / nodes
        finally:
            sys.setrecursionlimit(limit)
    if installed("torch"):
        row["torch"] = median_time(torch_runner(program, units, point), reps) / nodes
    return row


# --- 3. the cross-check -------------------------------------------------------------------


def check_cost(sizes: list[int], budget: float) -> list[dict[str, Any]]:
    """The cross-check alone on each graph (no node sits at a kink in these programs)."""
    rows = []
    for program, (per_unit, source_of, point_of, _) in PROGRAMS.items():
        for size in sizes:
            units = max(1, size // per_unit)
            point = point_of(units)
            graph = build_graph(parse(source_of(units)))
            values = forward(graph, point)
            grads = backward(graph, values)
            kinked = [False] * len(graph.nodes)
            runs = []
            for _ in range(3 if size <= 10_000 else 1):
                start = time.perf_counter()
                outcome = cross_check(graph, values, grads, kinked, budget)
                runs.append(time.perf_counter() - start)
            kinds: dict[str, int] = {}
            for result in outcome.nodes:
                if result is not None:
                    key = result.kind or result.verdict
                    kinds[key] = kinds.get(key, 0) + 1
            rows.append(
                {
                    "program": program,
                    "nodes": len(graph.nodes),
                    "seconds": statistics.median(runs),
                    "status": outcome.status,
                    "adjoint": kinds.get("adjoint", 0),
                    "local": kinds.get("local", 0),
                    "unchecked": kinds.get("not checked", 0),
                }
            )
            print(f"  check {program} {len(graph.nodes):,} nodes done", file=sys.stderr)
    return rows


# --- 4. memory ------------------------------------------------------------------------------

_MEMORY_CHILD = """
import sys, time
sys.path.insert(0, {here!r})
from run import PROGRAMS, peak_rss_mb
from backprop.engine import evaluate
program, size = {program!r}, {size}
per_unit, source_of, point_of, _ = PROGRAMS[program]
units = size // per_unit
base = peak_rss_mb()
source, point = source_of(units), point_of(units)
start = time.perf_counter()
result = evaluate(source, point, check=False)
seconds = time.perf_counter() - start
print(len(result.nodes), len(source), base, peak_rss_mb(), seconds)
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM: execve resets it, ru_maxrss not)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(program: str, size: int) -> dict[str, Any]:
    here = os.path.dirname(os.path.abspath(__file__))
    code = _MEMORY_CHILD.format(here=here, program=program, size=size)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    nodes, chars, base, peak, seconds = done.stdout.split()
    return {
        "program": program,
        "nodes": int(nodes),
        "chars": int(chars),
        "base_mb": float(base),
        "peak_mb": float(peak),
        "seconds": float(seconds),
    }


# --- the report ------------------------------------------------------------------------------


def us(seconds: float) -> str:
    """Microseconds: three significant digits, or whole ones past 100."""
    micro = seconds * 1e6
    return f"{micro:,.0f}" if micro >= 100 else f"{micro:.3g}"


def report(args: argparse.Namespace) -> None:
    print(f"# backprop benchmarks ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]})\n")
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}.\n")

    print("## Cold start (median of", args.repeats_start, "fresh processes)\n")
    starts = cold_start(args.repeats_start)
    click = dict(starts)['python -c "import click"']
    print('| command | ms | vs `python -c "import click"` |\n|---|---:|---:|')
    for name, seconds in starts:
        print(f"| `{name}` | {seconds * 1e3:.0f} | {seconds / click:.2f}x |")
    json_ratio = dict(starts)["backprop eval ... --no-check --json"] / click
    verdict = "met" if json_ratio <= 1.5 else "missed"
    print(
        f"\nTarget `--no-check --json` within 1.5x the click import: {verdict} "
        f"({json_ratio:.2f}x).\n"
    )

    print("## Forward + backward per node (median of", args.repeats, "runs; µs per node)\n")
    print(micrograd_recursion_note() + " (the rows below lift the limit).\n")
    rows = per_node(args.sizes, args.repeats)
    header = "| program | nodes | floor: plain Python forward | backprop fwd+bwd | ratio |"
    rule = "|---|---:|---:|---:|---:|"
    others = [name for name in ("micrograd", "torch") if any(name in r for r in rows)]
    for name in others:
        header += f" {name} | ratio |"
        rule += "---:|---:|"
    print(header + "\n" + rule)
    for r in rows:
        line = f"| {r['program']} | {r['nodes']:,} | {us(r['floor'])} | {us(r['backprop'])} | "
        line += f"{r['backprop'] / r['floor']:.1f}x |"
        for name in others:
            line += f" {us(r[name])} | {r[name] / r['floor']:.0f}x |" if name in r else " – | – |"
        print(line)
    largest = [r for r in rows if r["nodes"] >= max(args.sizes) * 0.99]
    worst = max(r["backprop"] / r["floor"] for r in largest)
    verdict = "met" if worst <= 30 else "missed"
    print(
        f"\nTarget at most 30x the floor at {max(args.sizes):,} nodes: {verdict} ({worst:.1f}x).\n"
    )

    print(f"## The cross-check (budget {args.budget:g} s)\n")
    print("Nodes by the kind of check they got: adjoint (SymPy's derivative of the whole")
    print("program), gate by gate (local), or not checked within the budget.\n")
    columns = ["program", "nodes", "check s", "µs per node", "status", "adjoint", "gate by gate"]
    print("| " + " | ".join([*columns, "not checked"]) + " |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for r in check_cost(args.check_sizes, args.budget):
        print(
            f"| {r['program']} | {r['nodes']:,} | {r['seconds']:.2f} | "
            f"{us(r['seconds'] / r['nodes'])} | {r['status']} | "
            f"{r['adjoint']:,} | {r['local']:,} | {r['unchecked']:,} |"
        )

    print(f"\n## Memory of a {args.memory_size:,}-node evaluation (fresh process, no check)\n")
    print("| program | nodes | program text | baseline MB | peak MB | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for program in PROGRAMS:
        m = memory(program, args.memory_size)
        print(
            f"| {m['program']} | {m['nodes']:,} | {m['chars']:,} chars | {m['base_mb']:.0f} | "
            f"{m['peak_mb']:.0f} | {m['seconds']:.1f} |"
        )
    print(
        "\nbaseline: the process with backprop imported, before the program text and "
        "point exist; peak: with them, through parse, build, forward and backward "
        "(`evaluate`, no check), which `seconds` times."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [1_000, 10_000]
        args.repeats, args.repeats_start = 3, 5
        args.check_sizes = [30, 300, 3_000]
        args.memory_size = 100_000
    else:
        args.sizes = [1_000, 10_000, 100_000, 1_000_000]
        args.repeats, args.repeats_start = 5, 21
        args.check_sizes = [30, 100, 300, 1_000, 3_000, 10_000, 100_000]
        args.memory_size = 1_000_000
    args.budget = 5.0
    report(args)
    print()
    import reading

    reading.report(args.quick)


if __name__ == "__main__":
    main()
