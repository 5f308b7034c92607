"""The claims corpus (tests/data/claims_corpus.json): correct claims and typical mistakes.

Every correct claim must be `correct` or `agrees`; every wrong one `wrong`, with
the kind of difference the corpus names where it names one (sign, factor,
missing factor, term). The derivatives in the corpus were written by hand, each
in a form other than SymPy's. SymPy is given 2 s a claim; the first entries run
in the quick suite, the rest are marked slow (about 20 s of CPU time in all).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backprop.engine.claims import check_claims, claims_from_options

CORPUS = json.loads((Path(__file__).parent / "data" / "claims_corpus.json").read_text())
QUICK = 6  # entries in the quick suite


def test_the_corpus_is_large_enough() -> None:
    entries = CORPUS["entries"]
    assert len({e["program"] for e in entries}) >= 40
    assert all(e["correct"] and len(e["wrong"]) >= 1 for e in entries)
    kinds = [kind for e in entries for _, kind in e["wrong"]]
    assert {"sign", "factor", "missing factor", "term"} <= set(kinds)


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, marks=() if k < QUICK else pytest.mark.slow, id=e["program"][:40])
        for k, e in enumerate(CORPUS["entries"])
    ],
)
def test_corpus_entry(entry: dict) -> None:
    wrt = entry["wrt"]
    items = [f"{wrt}={c}" for c in entry["correct"]] + [f"{wrt}={c}" for c, _ in entry["wrong"]]
    report = check_claims(entry["program"], claims_from_options(items), seconds=2.0)
    n = len(entry["correct"])
    for result in report.claims[:n]:
        assert result.verdict in ("correct", "agrees"), (result.claim, result.detail)
    for result, (_, kind) in zip(report.claims[n:], entry["wrong"]):
        assert result.verdict == "wrong", (result.claim, result.detail)
        assert result.counterexample is not None
        if kind is not None:
            assert result.difference == kind, (result.claim, result.detail)
