"""A claim judged at given points (`backprop check --points FILE | --grid ...`).

The points come in blocks (engine/stream.py reads them, as for `eval --points`).
Each block goes through the numpy interpreter twice (engine/points.py): the
program, for the true derivative, and the program with the claim, for the
claim's value. A row where both are finite and agree within the scalar check's
tolerance is a point where the claim agrees; every other row (a failure, a
derivative that is not finite, a difference) is judged again by the scalar
judge of engine/claims.py, which tells a domain error of the program from one of
the claim, retries a difference in 30 digits, and gives the counterexample. A
program with a gate that has kinks (relu, abs, max, ...) is judged point by
point, so that a point at a kink is skipped as the random points are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from backprop.engine.gates import GATES
from backprop.engine.points import Compiled, from_graph


@dataclass(frozen=True)
class GivenPoints:
    """The points of --points FILE or --grid: where they come from, how many, and
    their blocks (one iterable for each claim)."""

    where: str
    count: int
    blocks: Callable[[], Iterable[Any]] = field(compare=False)


@dataclass
class Outcome:
    """What the given points said about one claim."""

    judged: int = 0
    replaced: dict[str, int] = field(default_factory=dict)
    good: list[dict[str, float]] = field(default_factory=list)  # the first points judged
    counterexample: tuple[dict[str, float], float, float] | None = None  # at, claimed, true


def has_kinks(compiled: Compiled) -> bool:
    return any(GATES[n.op].kink is not None for n in compiled.graph.nodes if n.inputs)


def judge_given(
    judge: Any,
    program: Compiled,
    given: GivenPoints,
    keep: int,
    rel: float,
    absolute: float,
) -> Outcome:
    """Judge the claim of `judge` (a claims._Judge) at every given point, in order, up to
    the first where it differs; keep the first `keep` points where it was judged."""
    claim = from_graph(judge.built.graph)
    k = program.inputs.index(judge.built.claim.wrt)
    pointwise = has_kinks(program)
    out = Outcome()
    for block in given.blocks():
        n = len(block)
        if n == 0:
            continue
        columns = dict(zip(program.inputs, block.columns))
        if pointwise:
            flag = np.ones(n, dtype=bool)
        else:
            claimed, _, claim_failed = claim.evaluate_block([columns[c] for c in claim.inputs], n)
            _, grads, failed = program.evaluate_block(block.columns, n)
            true = grads[k]
            with np.errstate(all="ignore"):
                scale = np.maximum(np.abs(claimed), np.abs(true))
                close = np.abs(claimed - true) <= np.maximum(rel * scale, absolute)
            flag = claim_failed | failed | ~np.isfinite(true) | ~close
        ok = ~flag
        stop = n
        for r in np.flatnonzero(flag):
            point = {name: float(columns[name][r]) for name in program.inputs}
            outcome, at_claimed, at_true = judge.at(point)
            if outcome == "ok":
                ok[r] = True
            elif outcome == "differs":
                out.counterexample = (point, at_claimed, at_true)
                stop = int(r)
                break
            else:
                out.replaced[outcome] = out.replaced.get(outcome, 0) + 1
        ok[stop:] = False
        out.judged += int(np.count_nonzero(ok))
        for r in np.flatnonzero(ok)[: max(0, keep - len(out.good))]:
            out.good.append({name: float(columns[name][r]) for name in program.inputs})
        if out.counterexample is not None:
            out.judged += 1
            out.good.append(out.counterexample[0])
            break
    return out
