"""Reading a large program: the three ratios of "reading speed and memory", in one run.

    pip install micrograd==0.1.0      # or pip install -e '.[bench]'
    python benchmarks/reading.py      # about 3 minutes; prints Markdown
    python benchmarks/reading.py --quick
    python benchmarks/reading.py --parts  # and where the command's time goes

1. The whole command `backprop eval -f chain.bp --at x=0.3 --no-check --json`
   on a 100,000-step chain (`h = tanh(0.5*h + 0.1)` repeated after `h = x`:
   500,001 nodes), in a fresh process with its start-up and the JSON written
   to a pipe, against micrograd building, running and differentiating the same
   chain in this process (its recursion limit lifted). Target: at most 1.0x.
2. Peak memory above the process's baseline of a 1,000,000-node evaluation
   without the check (`evaluate(..., check=False)` in a fresh process), on
   the chain and the sum of benchmarks/run.py, and of the whole command on the
   1,000,000-node chain with its JSON. Target: at most 300 MB.
3. Reading (program text to graph) against Python's own `compile()` of the
   same text, on the chain of 1. and on the 1,000,000-node sum of
   benchmarks/run.py (`sigmoid(w0*x0 + ... + b)`, 250,000 products: compile()
   needs its recursion limit lifted and a large stack for it). Target: at
   most 3x.

Times are CPU seconds (user plus system; for the command, the child
process's, start-up included): on a shared machine wall time counts other
people's work too. Each figure is a median over repeats taken alternately, so
that a change of load hits both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import installed, memory, micrograd_tanh, sum_source  # noqa: E402

STEP = "h = tanh(0.5*h + 0.1)\n"


def chain_text(steps: int) -> str:
    """`h = x`, then the step `steps` times, then `h`: 5 nodes a step (two constants)."""
    return "h = x\n" + STEP * steps + "h\n"


def cpu_time(func: Callable[[], Any]) -> float:
    """CPU seconds of one `func()` in this process (all its threads), the collector
    paused as in a CLI run."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        func()
        return time.process_time() - start
    finally:
        gc.enable()


def child_cpu_time(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """CPU seconds of a fresh process running `argv`, and how many bytes it wrote."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used, len(done.stdout)


def read(text: str) -> Any:
    """Program text to graph, as `evaluate` does it."""
    try:
        from backprop.engine.build import read_graph
    except ImportError:  # before 2026-11-30: through the syntax tree
        from backprop.engine.build import build_graph
        from backprop.parser import parse

        return build_graph(parse(text))
    return read_graph(text)


# --- 1. the whole command against micrograd -----------------------------------------------


def micrograd_chain(steps: int) -> Callable[[], float]:
    """micrograd building, running and differentiating the chain; tanh written as its ops are."""
    from micrograd.engine import Value

    tanh = micrograd_tanh()

    def run() -> float:
        x = Value(0.3)
        h = x
        for _ in range(steps):
            h = tanh(0.5 * h + 0.1)
        h.backward()
        return x.grad

    return run


def backprop_command() -> list[str]:
    # The console script installed with this interpreter (not a shim found first on PATH).
    script = os.path.join(os.path.dirname(sys.executable), "backprop")
    found = script if os.path.exists(script) else shutil.which("backprop")
    return [found] if found else [sys.executable, "-m", "backprop"]


def command_env() -> dict[str, str]:
    unset = ("FORCE_COLOR", "TTY_COMPATIBLE", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    # Bytecode caches, as an installed package has them, in a directory of their own.
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="backprop-bench-pyc-")
    return env


def whole_command(steps: int, repeats: int, folder: str) -> dict[str, Any]:
    path = os.path.join(folder, "chain.bp")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(chain_text(steps))
    argv = [*backprop_command(), "eval", "-f", path, "--at", "x=0.3", "--no-check", "--json"]
    env = command_env()
    # A warm-up run fills the bytecode caches; the pipe is read to its end, as a script would.
    subprocess.run(argv, env=env, stdout=subprocess.PIPE, check=True)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * steps + 1_000))  # micrograd's backward recurses
    ours: list[float] = []
    theirs: list[float] = []
    size = 0
    try:
        run = micrograd_chain(steps)
        for _ in range(repeats):
            seconds, size = child_cpu_time(argv, env)
            ours.append(seconds)
            theirs.append(cpu_time(run))
    finally:
        sys.setrecursionlimit(limit)
    return {
        "steps": steps,
        "json_bytes": size,
        "backprop": statistics.median(ours),
        "micrograd": statistics.median(theirs),
    }


def command_parts(steps: int, repeats: int) -> dict[str, float]:
    """Where the whole command's time goes: each part of it timed alone in this
    process (CPU seconds, medians), and start-up as a fresh `backprop eval x`."""
    from backprop.cli.render import json_chunks
    from backprop.engine import evaluate
    from backprop.engine.api import _notes, resolve_point
    from backprop.engine.gates import GATES
    from backprop.engine.passes import backward, forward

    text = chain_text(steps)
    argv = [*backprop_command(), "eval", "x", "--at", "x=0.3", "--no-check", "--json"]
    env = command_env()
    subprocess.run(argv, env=env, stdout=subprocess.PIPE, check=True)  # bytecode caches
    parts: dict[str, list[float]] = {}

    def timed(name: str, func: Callable[..., Any], *args: Any) -> Any:
        gc.disable()
        start = time.process_time()
        try:
            return func(*args)
        finally:
            parts.setdefault(name, []).append(time.process_time() - start)
            gc.enable()

    def write(result: Any) -> None:
        for _ in json_chunks(result, as_bytes=True):  # as eval --json makes them
            pass

    for _ in range(repeats):
        parts.setdefault("start-up", []).append(child_cpu_time(argv, env)[0])
        graph = timed("reading", read, text)
        values = timed("forward", forward, graph, resolve_point(graph, {"x": 0.3}))
        grads = timed("backward", backward, graph, values)
        timed("notes", _notes, graph, values, grads, GATES)
        timed("the JSON bytes", write, evaluate(text, {"x": 0.3}, check=False))
    return {name: statistics.median(times) for name, times in parts.items()}


# --- 2. memory ------------------------------------------------------------------------------

_COMMAND_CHILD = """
import os, sys
sys.path.insert(0, {here!r})
from run import peak_rss_mb
import backprop.cli.main, backprop.cli.render, backprop.engine
base = peak_rss_mb()
sys.argv = ["backprop", "eval", "-f", {path!r}, "--at", "x=0.3", "--no-check", "--json"]
try:
    backprop.cli.main.main()
except SystemExit:
    pass
sys.stdout.flush()
os.write(2, f"{{base}} {{peak_rss_mb()}}\\n".encode())
"""


def command_memory(steps: int, folder: str) -> dict[str, Any]:
    """Peak memory of the whole command (its JSON to /dev/null) above its baseline."""
    path = os.path.join(folder, f"chain-{steps}.bp")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(chain_text(steps))
    here = os.path.dirname(os.path.abspath(__file__))
    code = _COMMAND_CHILD.format(here=here, path=path)
    with open(os.devnull, "w") as sink:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=sink, stderr=subprocess.PIPE, text=True, check=True
        )
    base, peak = done.stderr.split()[-2:]
    return {"nodes": 5 * steps + 1, "base_mb": float(base), "peak_mb": float(peak)}


# --- 3. reading against compile() -----------------------------------------------------------


def _deep(func: Callable[[], Any]) -> Callable[[], Any]:
    """`func` run in a thread with a 1 GB stack and the recursion limit lifted:
    compile() recurses once per operator of a long sum."""

    def run() -> Any:
        box: list[Any] = []
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(100_000_000)
        size = threading.stack_size(1 << 30)
        try:
            thread = threading.Thread(target=lambda: box.append(func()))
            thread.start()
            thread.join()
        finally:
            threading.stack_size(size)
            sys.setrecursionlimit(limit)
        if not box:
            raise RuntimeError("compile() failed in its thread")
        return box[0]

    return run


def reading_vs_compile(name: str, text: str, repeats: int) -> dict[str, Any]:
    nodes = len(read(text).nodes)
    ours: list[float] = []
    theirs: list[float] = []
    compiling = _deep(lambda: compile(text, name, "exec"))
    for _ in range(repeats):
        ours.append(cpu_time(lambda: read(text)))
        theirs.append(cpu_time(compiling))
    return {
        "program": name,
        "nodes": nodes,
        "chars": len(text),
        "read": statistics.median(ours),
        "compile": statistics.median(theirs),
    }


# --- the report ------------------------------------------------------------------------------


def report(quick: bool = False, parts: bool = False) -> dict[str, float]:
    """Print the three sections; return the ratios by name."""
    steps = 10_000 if quick else 100_000
    memory_nodes = 100_000 if quick else 1_000_000
    sum_terms = 25_000 if quick else 250_000
    repeats = 3 if quick else 5
    ratios: dict[str, float] = {}
    folder = tempfile.mkdtemp(prefix="backprop-bench-")
    if quick:
        print("--quick: a tenth of the sizes; the targets are for the full run.\n")

    print(f"## Reading a large program (median of {repeats} runs, taken alternately)\n")
    print("### 1. The whole command against micrograd\n")
    if installed("micrograd"):
        w = whole_command(steps, repeats, folder)
        ratios["command"] = w["backprop"] / w["micrograd"]
        print("| what | CPU s |\n|---|---:|")
        print(
            f"| `backprop eval -f chain.bp --at x=0.3 --no-check --json` "
            f"({w['steps']:,} steps, {5 * w['steps'] + 1:,} nodes, "
            f"{w['json_bytes']:,} bytes of JSON) | {w['backprop']:.2f} |"
        )
        print(f"| micrograd: build, forward, backward | {w['micrograd']:.2f} |")
        verdict = "met" if ratios["command"] <= 1.0 else "missed"
        print(f"\nTarget at most 1.0x micrograd: {verdict} ({ratios['command']:.2f}x).\n")
    else:
        print("micrograd is not installed (pip install micrograd==0.1.0): no ratio.\n")
    if parts:
        timed = command_parts(steps, repeats)
        print("Where its time goes, each part timed alone (CPU s):\n")
        print("| part | CPU s |\n|---|---:|")
        for name, seconds in timed.items():
            print(f"| {name} | {seconds:.3f} |")
        print(
            f"| all of them | {sum(timed.values()):.3f} |\n\nThe command's own time (above) also "
            "holds the system's (fresh memory mapped, the pipe), reading the file and freeing "
            "the result at exit; parts timed alone need not add up to it.\n"
        )

    print(f"### 2. Peak memory of a {memory_nodes:,}-node evaluation (fresh process, no check)\n")
    print("| what | nodes | baseline MB | peak MB | above baseline MB | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for program in ("chain", "sum"):
        m = memory(program, memory_nodes)
        above = m["peak_mb"] - m["base_mb"]
        worst = max(worst, above)
        print(
            f"| `evaluate` on the {program} of run.py | {m['nodes']:,} | {m['base_mb']:.0f} | "
            f"{m['peak_mb']:.0f} | {above:.0f} | {m['seconds']:.1f} |"
        )
    c = command_memory((memory_nodes - 1) // 5, folder)
    above = c["peak_mb"] - c["base_mb"]
    worst = max(worst, above)
    print(
        f"| the whole command with `--json` on the chain of 1. | {c['nodes']:,} | "
        f"{c['base_mb']:.0f} | {c['peak_mb']:.0f} | {above:.0f} | |"
    )
    ratios["memory_mb"] = worst
    verdict = "met" if worst <= 300 else "missed"
    print(f"\nTarget at most 300 MB above the baseline: {verdict} ({worst:.0f} MB).\n")

    print("### 3. Reading (text to graph) against Python's `compile()` of the same text\n")
    print("| program | nodes | characters | reading CPU s | compile() CPU s | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name, text in (("chain", chain_text(steps)), ("sum", sum_source(sum_terms))):
        r = reading_vs_compile(name, text, repeats)
        ratio = r["read"] / r["compile"]
        ratios[f"read_{name}"] = ratio
        worst = max(worst, ratio)
        print(
            f"| {name} | {r['nodes']:,} | {r['chars']:,} | {r['read']:.2f} | "
            f"{r['compile']:.2f} | {ratio:.2f}x |"
        )
    verdict = "met" if worst <= 3.0 else "missed"
    print(f"\nTarget at most 3x compile(): {verdict} ({worst:.2f}x).\n")
    shutil.rmtree(folder, ignore_errors=True)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, 3 repeats")
    parser.add_argument(
        "--parts", action="store_true", help="also time each part of the command alone"
    )
    args = parser.parse_args()
    print(f"# backprop: reading ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]})\n")
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f}.\n")
    report(args.quick, args.parts)


if __name__ == "__main__":
    main()
