"""The claims corpus in numbers: how many correct claims SymPy proved, how many only
agreed, how many wrong claims were caught and classified, and how long it took.

    python benchmarks/claims_corpus.py [SECONDS]     # SymPy's budget per claim (default 2)

The corpus is tests/data/claims_corpus.json; tests/test_claims_corpus.py asserts
the verdicts and kinds, this script counts them (the README's figures).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from backprop.engine.claims import check_claims, claims_from_options

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "claims_corpus.json"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    entries = json.loads(CORPUS.read_text())["entries"]
    counts = dict.fromkeys(
        ["proved", "agreed", "correct judged otherwise", "wrong caught", "wrong missed",
         "classified", "kind named by the corpus", "kind as named"], 0
    )  # fmt: skip
    started, cpu = time.perf_counter(), time.process_time()
    for entry in entries:
        wrt = entry["wrt"]
        items = [f"{wrt}={c}" for c in entry["correct"]]
        items += [f"{wrt}={c}" for c, _ in entry["wrong"]]
        report = check_claims(entry["program"], claims_from_options(items), seconds=seconds)
        n = len(entry["correct"])
        for result in report.claims[:n]:
            key = {"correct": "proved", "agrees": "agreed"}.get(result.verdict)
            counts[key or "correct judged otherwise"] += 1
            if result.verdict == "agrees":
                print(f"agrees: {entry['program']!r}: {result.claim} ({result.detail})")
        for result, (_, kind) in zip(report.claims[n:], entry["wrong"]):
            counts["wrong caught" if result.verdict == "wrong" else "wrong missed"] += 1
            counts["classified"] += result.difference is not None
            if kind is not None:
                counts["kind named by the corpus"] += 1
                counts["kind as named"] += result.difference == kind
    correct = sum(len(e["correct"]) for e in entries)
    wrong = sum(len(e["wrong"]) for e in entries)
    print(f"{len(entries)} formulas, {correct} correct claims, {wrong} wrong claims")
    for key, value in counts.items():
        print(f"  {key}: {value}")
    print(
        f"{time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU "
        f"(SymPy budget {seconds:g} s a claim)"
    )


if __name__ == "__main__":
    main()
