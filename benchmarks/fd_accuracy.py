"""How accurate is `eval --fd`? Its fourth-order difference against the plain central one.

On the claims corpus's programs (tests/data/claims_corpus.json), at up to five
seeded random points each where the program is defined, both differences with
the step of engine/fd.py are compared with the engine's gradient. Prints the
median, the 90th percentile and the largest relative error of each (the
README's figures), and how often the fourth-order one is closer.

    python benchmarks/fd_accuracy.py
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

from backprop.engine import evaluate
from backprop.engine.build import build_graph
from backprop.engine.errors import DomainError, NumericError
from backprop.engine.fd import relative_error, step_for
from backprop.engine.passes import forward
from backprop.parser import parse

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "claims_corpus.json"


def main() -> None:
    entries = json.loads(CORPUS.read_text())["entries"]
    rng = random.Random(3)
    central: list[float] = []
    fourth: list[float] = []
    for entry in entries:
        graph = build_graph(parse(entry["program"]))
        names = list(graph.inputs)
        found = 0
        for _ in range(100):
            at = {n: rng.uniform(-3, 3) for n in names}
            try:
                result = evaluate(entry["program"], at, check=False)
            except (DomainError, NumericError):
                continue
            for name in names:
                x, h = at[name], step_for(at[name])

                try:
                    out = graph.output
                    fp, fm, fp2, fm2 = (
                        forward(graph, {**at, name: x + k * h})[out] for k in (1, -1, 2, -2)
                    )
                except (DomainError, NumericError):
                    continue
                grad = result.gradients[name]
                if not grad:
                    continue
                central.append(relative_error(grad, (fp - fm) / (2 * h)))
                fourth.append(relative_error(grad, (8 * (fp - fm) - (fp2 - fm2)) / (12 * h)))
            found += 1
            if found == 5:
                break

    def summary(errors: list[float]) -> str:
        tenths = statistics.quantiles(errors, n=10)
        return f"median {tenths[4]:.2g}, 90th percentile {tenths[8]:.2g}, largest {max(errors):.2g}"

    print(f"{len(central)} input-points")
    print(f"plain central difference:  {summary(central)}")
    print(f"fourth-order (Richardson): {summary(fourth)}")
    better = sum(a < b for a, b in zip(fourth, central))
    print(f"fourth-order closer at {better} of {len(central)}")


if __name__ == "__main__":
    main()
