"""A claim judged at given points (`backprop check --points FILE | --grid ...`).

The points come in blocks (engine/stream.py reads them, as for `eval --points`).
Each block goes through the numpy interpreter twice (engine/points.py): the
program, for the true derivative, and the program with the claim, for the
claim's value. A row where both are finite and agree within the scalar check's
tolerance, and where no gate of the program is at a kink, is a point where the
claim agrees; every other row (a failure, a derivative that is not finite, a
difference, a kink) is judged again by the scalar judge of engine/claims.py,
which tells a domain error of the program from one of the claim, retries a
difference in 30 digits, skips a kink, and gives the counterexample.
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


def kink_rows(program: Compiled, columns: list[Any], n: int) -> Any:
    """The rows where some gate of the program may be at a kink: the table's own `kink`
    of each such gate, called on its arguments' values row by row (the scalar
    judge then decides whether the input's gradient passes through it)."""
    rows = np.zeros(n, dtype=bool)
    gated = [
        i
        for i, node in enumerate(program.graph.nodes)
        if node.inputs and GATES[node.op].kink is not None and program._live[i]
    ]
    if not gated:
        return rows
    with np.errstate(all="ignore"):
        values, _ = program._forward(columns)
    for i in gated:
        node = program.graph.nodes[i]
        kink = GATES[node.op].kink
        assert kink is not None
        args = [np.broadcast_to(values[j], (n,)) for j in (*node.inputs, i)]
        at = np.frompyfunc(lambda *a, kink=kink: kink(*a) is not None, len(args), 1)(*args)
        rows |= at.astype(bool)
    return rows


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
    out = Outcome()
    for block in given.blocks():
        n = len(block)
        if n == 0:
            continue
        columns = dict(zip(program.inputs, block.columns))
        claimed, _, claim_failed = claim.evaluate_block([columns[c] for c in claim.inputs], n)
        _, grads, failed = program.evaluate_block(block.columns, n)
        true = grads[k]
        with np.errstate(all="ignore"):
            scale = np.maximum(np.abs(claimed), np.abs(true))
            close = np.abs(claimed - true) <= np.maximum(rel * scale, absolute)
        flag = claim_failed | failed | ~np.isfinite(true) | ~close
        flag |= kink_rows(program, block.columns, n)
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
