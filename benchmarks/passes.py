"""Forward + backward per node against the plain-Python floor, in CPU seconds.

    python benchmarks/passes.py [NODES]        # default 1,000,000

The same programs and floors as `run.py`'s per-node table, measured in CPU
time (`time.process_time`) rather than wall time, the floor and the passes in
turns, five times, the smallest of each: on a shared machine wall time
wanders twofold, CPU time far less. To compare an older version, put its
packages first on PYTHONPATH (a folder `backprop/` linking to its `cli/_root/
__init__.py`, `cli`, `engine` and `parser`) and run this same script.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import run  # noqa: E402 - the programs and floors of run.py
from backprop.engine.build import build_graph  # noqa: E402
from backprop.engine.passes import backward, forward  # noqa: E402
from backprop.parser import parse  # noqa: E402


def measure(program: str, size: int, repeats: int = 5) -> dict[str, float]:
    per_unit, source_of, point_of, floor_of = run.PROGRAMS[program]
    units = size // per_unit
    point = point_of(units)
    graph = build_graph(parse(source_of(units)))
    floors, passes = [], []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            floor_of(units, point)
            floors.append(time.process_time() - start)
            start = time.process_time()
            backward(graph, forward(graph, point))
            passes.append(time.process_time() - start)
        finally:
            gc.enable()
    nodes = len(graph.nodes)
    return {
        "program": program,
        "nodes": nodes,
        "floor_us": min(floors) / nodes * 1e6,
        "passes_us": min(passes) / nodes * 1e6,
        "ratio": min(passes) / min(floors),
    }


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for program in run.PROGRAMS:
        print(json.dumps(measure(program, size)), flush=True)


if __name__ == "__main__":
    main()
