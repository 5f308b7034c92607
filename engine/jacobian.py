"""`jacobian(source, at, outputs)`: d output / d input for several outputs, in the cheaper mode.

Reverse mode gives one row (an output's gradient) per backward sweep;
forward mode one column (every output's derivative along one input) per
forward sweep. With m outputs and n inputs, reverse needs m sweeps and
forward n: the Jacobian is computed in whichever needs fewer (reverse on a
tie, as for a gradient), and says which. Each entry is checked against
SymPy's derivative of that output's whole expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from backprop.engine.api import VERDICTS, Check, _notes, resolve_point, skipped_check
from backprop.engine.build import build_graph
from backprop.engine.errors import InputError
from backprop.engine.forward import tangents
from backprop.engine.gates import GATES
from backprop.engine.hessian import wanted_inputs
from backprop.engine.outputs import resolve_outputs
from backprop.engine.passes import backward, forward
from backprop.parser import parse
from backprop.parser.parse import cycle_collector_paused


@dataclass(frozen=True)
class Jacobian:
    source: str
    at: dict[str, float]
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    values: tuple[float, ...]  # each output's value
    matrix: tuple[tuple[float, ...], ...]  # outputs by inputs
    mode: str  # "forward" or "reverse"
    sweeps: int
    sympy: tuple[tuple[float | None, ...], ...]
    verdicts: tuple[tuple[str, ...], ...]
    check: Check
    notes: tuple[str, ...]


def jacobian(
    source: str,
    at: Mapping[str, float] | None,
    outputs: Sequence[str],
    wrt: Sequence[str] | None = None,
    *,
    mode: str | None = None,
    check: bool = True,
    check_seconds: float | None = None,
) -> Jacobian:
    """The Jacobian of the named outputs by the inputs (`wrt`, default every input)."""
    if not outputs:
        raise InputError("name the outputs with --output NAME (two or more, or one)")
    with cycle_collector_paused():
        graph = build_graph(parse(source))
        point = resolve_point(graph, at or {})
        ids = resolve_outputs(graph, outputs)
        inputs = wanted_inputs(graph, wrt)
        values = forward(graph, point)
        m, n = len(ids), len(inputs)
        chosen = mode or ("reverse" if m <= n else "forward")
        matrix = [[0.0] * n for _ in range(m)]
        kinked_rows = []
        for r, i in enumerate(ids):
            target = replace(graph, output=i, live=())
            grads = backward(target, values)
            kinked_rows.append(_notes(target, values, grads, GATES)[1])
            if chosen == "reverse":
                for c, name in enumerate(inputs):
                    g = grads[graph.inputs[name]]
                    matrix[r][c] = 0.0 if g is None else g
        if chosen == "forward":
            for c, name in enumerate(inputs):
                column = tangents(graph, values, {name: 1.0})
                for r, i in enumerate(ids):
                    t = column[i]
                    matrix[r][c] = 0.0 if t is None else t
    flagged = [[kinked_rows[r][graph.inputs[name]] for name in inputs] for r in range(m)]
    notes = []
    for r, row in enumerate(matrix):
        for c, x in enumerate(row):
            if not math.isfinite(x):
                notes.append(f"d{outputs[r]}/d{inputs[c]} is {x}")
    if check:
        sympy, verdicts, summary = _check(
            graph, values, ids, inputs, matrix, flagged, check_seconds
        )
    else:
        sympy = tuple(tuple(None for _ in range(n)) for _ in range(m))
        verdicts = tuple(tuple("" for _ in range(n)) for _ in range(m))
        summary = skipped_check()
    return Jacobian(
        source,
        point,
        tuple(outputs),
        tuple(inputs),
        tuple(values[i] for i in ids),
        tuple(tuple(row) for row in matrix),
        chosen,
        m if chosen == "reverse" else n,
        sympy,
        verdicts,
        summary,
        tuple(notes),
    )


def _check(
    graph: Any,
    values: Sequence[float],
    ids: Sequence[int],
    inputs: Sequence[str],
    matrix: Sequence[Sequence[float]],
    flagged: Sequence[Sequence[bool]],
    seconds: float | None,
) -> tuple[Any, Any, Check]:
    """Each entry against SymPy's derivative of that output's whole expression."""
    import sympy as sp
    from backprop.engine.check import (
        DEFAULT_SECONDS,
        EXPRESSION_LIMIT,
        _clock,
        _deadline,
        _expressions,
        _OutOfTime,
        _to_float,
        compare,
    )

    m, n = len(ids), len(inputs)
    theirs: list[list[float | None]] = [[None] * n for _ in range(m)]
    verdicts = [["not checked"] * n for _ in range(m)]
    budget = DEFAULT_SECONDS if seconds is None else seconds
    started = _clock()
    why = ""
    if len(graph.nodes) > EXPRESSION_LIMIT:
        why = f"the graph has {len(graph.nodes):,} nodes, over the check's limit"
    else:
        expressions, at = _expressions(sp, graph, values, GATES)
        try:
            with _deadline(budget):
                for r, i in enumerate(ids):
                    for c, name in enumerate(inputs):
                        if _clock() - started > budget:
                            raise _OutOfTime
                        if flagged[r][c]:
                            verdicts[r][c] = "n/a"
                            continue
                        symbol = expressions[graph.inputs[name]]
                        exact = sp.diff(expressions[i], symbol).xreplace(at).evalf(30)
                        found = _to_float(sp, exact)
                        theirs[r][c] = found if math.isfinite(found) else None
                        verdicts[r][c] = compare(matrix[r][c], found)
        except _OutOfTime:
            why = f"out of time (budget {budget:g} s)"
        except RecursionError:
            why = "SymPy ran out of recursion depth"
    counts = dict.fromkeys(VERDICTS, 0)
    for row in verdicts:
        for v in row:
            counts[v] += 1
    if counts["mismatch"]:
        status = "mismatch"
    elif counts["not checked"]:
        status = "partial" if counts["not checked"] < m * n else "not checked"
    elif counts["n/a"]:
        status = "n/a"
    else:
        status = "ok"
    parts = [f"{k:,} {v}" for v, k in sorted(counts.items()) if k]
    message = ", ".join(parts) + (f"; {why}" if why else "")
    summary = Check("sympy", status, "all entries", message, counts, {})
    return (
        tuple(tuple(r) for r in theirs),
        tuple(tuple(r) for r in verdicts),
        summary,
    )
