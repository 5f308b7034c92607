"""Many points: `backprop eval --points` against a hand-written numpy script, in one run.

    pip install -e '.[points]'          # numpy, pyarrow (the test extra has them too)
    python benchmarks/points.py          # 1,000,000 points; about a minute
    python benchmarks/points.py --points 100000 --repeats 3   # a smoke test

The perceptron, 1/(1+exp(-(w0*x0+w1*x1+w2))), at N random points (each pair of
measurements taken in turns, so both see the same load on a shared machine):

1. The whole command, CSV in and CSV out, `--no-check` (a fresh process),
   against a script (also a fresh process) that reads the same CSV with
   pyarrow, computes the value and the five gradients with a hand-written
   numpy formula, and writes them with pyarrow. Target: within 1.5x.
2. The vectorised evaluation alone (`compile(source).evaluate(arrays)`, in
   this process, the arrays already in memory) against the hand-written
   numpy formula (at least 15 turns). Target: within 2x.
3. Peak memory (ru_maxrss) of the command at N and at 4N points: streaming
   keeps it about the same.

Every figure is the median of the repeats; the ratios compare figures taken
in the same run, which is what means something on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

PROGRAM = "1/(1+exp(-(w0*x0+w1*x1+w2)))"
NAMES = ["w0", "x0", "w1", "x1", "w2"]

HAND_WRITTEN = """
import sys
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

t = pacsv.read_csv(sys.argv[1])
w0, x0, w1, x1, w2 = (t.column(n).to_numpy() for n in ["w0", "x0", "w1", "x1", "w2"])
value, grads = None, None
""" + "\n".join(
    [
        "def formula(w0, x0, w1, x1, w2):",
        "    s = 1.0 / (1.0 + np.exp(-(w0 * x0 + w1 * x1 + w2)))",
        "    ds = s * (1.0 - s)",
        "    return s, [ds * x0, ds * w0, ds * x1, ds * w1, ds]",
        "value, grads = formula(w0, x0, w1, x1, w2)",
        "out = pa.table({**{n: t.column(n) for n in t.column_names}, 'value': value,",
        "                **{'d_' + n: g for n, g in zip(t.column_names, grads)}})",
        "pacsv.write_csv(out, sys.argv[2])",
    ]
)


def formula(w0, x0, w1, x1, w2):  # type: ignore[no-untyped-def]
    """The hand-written numpy formula (the same as the script's)."""
    s = 1.0 / (1.0 + np.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = s * (1.0 - s)
    return s, [ds * x0, ds * w0, ds * x1, ds * w1, ds]


def write_points(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    table = pa.table({name: rng.normal(size=n) for name in NAMES})
    pacsv.write_csv(table, path)


def timed_process(args: list[str]) -> tuple[float, int]:
    """Seconds and peak memory (MB) of one fresh process."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True); s = time.perf_counter() - t; "
        "print(s, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True
    )
    seconds, mb = done.stdout.split()
    return float(seconds), int(mb)


def interleaved(f, g, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds of f and of g, run in turns (so both see the same machine load)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for k, h in enumerate((f, g)):
            t = time.perf_counter()
            h()
            times[k].append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the 4N memory run")
    options = parser.parse_args()
    n, repeats = options.points, options.repeats
    backprop = [sys.executable, "-m", "backprop"]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "points.csv"
        write_points(data, n)
        script = folder / "hand.py"
        script.write_text(HAND_WRITTEN)

        command = [*backprop, "eval", PROGRAM, "--points", str(data), "-o"]
        ours, theirs, ours_mb = [], [], []
        for _ in range(repeats):
            s, mb = timed_process([*command, str(folder / "ours.csv"), "--no-check"])
            ours.append(s)
            ours_mb.append(mb)
            s, _ = timed_process([sys.executable, str(script), str(data), str(folder / "h.csv")])
            theirs.append(s)
        whole_ours, whole_theirs = statistics.median(ours), statistics.median(theirs)

        # The command's rows against the script's: the same numbers.
        a = pacsv.read_csv(folder / "ours.csv")
        b = pacsv.read_csv(folder / "h.csv")
        worst = max(
            float(np.max(np.abs(a.column(c).to_numpy() - b.column(c).to_numpy())))
            for c in ["value", *[f"d_{name}" for name in NAMES]]
        )

        from backprop.engine.points import compile

        table = pacsv.read_csv(data)
        arrays = {name: table.column(name).to_numpy() for name in NAMES}
        compiled = compile(PROGRAM)
        vec_ours, vec_theirs = interleaved(
            lambda: compiled.evaluate(arrays),
            lambda: formula(*[arrays[k] for k in NAMES]),
            max(repeats, 15),
        )

        big_mb = None
        if not options.no_memory:
            big = folder / "big.csv"
            write_points(big, 4 * n, seed=1)
            _, big_mb = timed_process(
                [*backprop, "eval", PROGRAM, "--points", str(big), "-o", str(folder / "b.csv")]
                + ["--no-check"]
            )
            big.unlink()

    print(f"perceptron, {n:,} points, median of {repeats}, {os.cpu_count()} cores")
    print()
    print("| measurement | backprop s | hand-written numpy s | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| whole command, CSV in and out, --no-check | {whole_ours:.3f} | {whole_theirs:.3f} "
        f"| {whole_ours / whole_theirs:.2f}x | 1.5x |"
    )
    print(
        f"| vectorised evaluation alone | {vec_ours:.4f} | {vec_theirs:.4f} "
        f"| {vec_ours / vec_theirs:.2f}x | 2x |"
    )
    print()
    print(f"largest difference between the two outputs' numbers: {worst:.3g}")
    line = f"peak memory of the command: {statistics.median(ours_mb)} MB at {n:,} points"
    if big_mb is not None:
        line += f", {big_mb} MB at {4 * n:,} points"
    print(line)


if __name__ == "__main__":
    main()
