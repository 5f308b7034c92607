"""Forward mode (JVP): the derivative of every node along a direction of the inputs.

No new table: a gate's local derivatives are its vjp rule run with a
gradient of 1 (what `Gate.local` does), and forward mode multiplies the
tangents coming in by them and adds the products,

    tangent(out) = sum over inputs k of  local_k * tangent(a_k),

in the order of the gate's inputs. A gate flat in an input (relu below 0,
the arguments a max does not pick, `x**0`) passes nothing on from it, as the
backward pass passes nothing back through it; a rule's None (a where's
condition, sign) passes nothing either. An input whose direction is 0
starts with no tangent at all (a structural zero, as JAX's symbolic zeros):
`sqrt(x) + y` at x = 0 along y has tangent 1, not inf * 0 = nan.

Two interpreters of that one formula: `tangents` (one direction, floats,
with a trace for `explain --forward`) and `tangent_vectors` (every unit
direction at once, a list per node, in any arithmetic: floats for the
Hessian, mpmath for `--digits`). Both are one loop over the nodes; nothing
recurses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Step:
    """What forward mode did at one gate (explain --forward narrates it).

    `incoming[k]` is input k's tangent (None: it has none), `local[k]` the
    gate's local derivative in input k, `sent[k]` the product added into the
    gate's tangent (None where nothing flowed: no tangent, or the gate is flat
    in that input), `tangent` the sum (None: nothing flowed at all).
    """

    node: int
    incoming: tuple[float | None, ...]
    local: tuple[float, ...]
    sent: tuple[float | None, ...]
    tangent: float | None
    flat: tuple[bool, ...]


def local_derivatives(
    gate: Gate, args: Sequence[Any], out: Any, fast: Any, safe: Any
) -> tuple[Any, ...]:
    """The gate's vjp rule with a gradient of 1: one local derivative per input (None: nothing
    flows to it). Plain float operations first; IEEE ones (inf, nan) where those raise."""
    try:
        return tuple(gate.vjp(fast, 1.0, *args, out))
    except (ArithmeticError, ValueError):
        return tuple(gate.vjp(safe, 1.0, *args, out))


def _flat(gate: Gate, args: Sequence[Any], out: Any) -> tuple[bool, ...]:
    if gate.flat is None:
        return (False,) * len(args)
    try:
        return tuple(gate.flat(*args, out))
    except TypeError:  # an mpmath number where a float comparison was expected
        return tuple(gate.flat(*[float(a) for a in args], float(out)))


def tangents(
    graph: Graph,
    values: Sequence[float],
    direction: Mapping[str, float],
    gates: Mapping[str, Gate] = GATES,
    trace: list[Step] | None = None,
) -> list[float | None]:
    """Every node's derivative along `direction` (input name -> component; a missing
    name is 0). None where the node depends on no input; 0.0 where it does but
    nothing flowed. With `trace`, one Step per gate that received a tangent."""
    from backprop.engine.arith import floats
    from backprop.engine.passes import depends_on_inputs

    nodes = graph.nodes
    tangent: list[float | None] = [None] * len(nodes)
    for name, i in graph.inputs.items():
        d = float(direction.get(name, 0.0))
        if d != 0.0:
            tangent[i] = d
    fast, safe = floats(gates, safe=False), floats(gates, safe=True)
    for node in nodes:
        ins = node.inputs
        if not ins:
            continue
        incoming = tuple(tangent[j] for j in ins)
        if all(t is None for t in incoming):
            continue
        gate = gates[node.op]
        args = [values[j] for j in ins]
        out = values[node.id]
        local = local_derivatives(gate, args, out, fast, safe)
        flat = _flat(gate, args, out)
        total: float | None = None
        sent: list[float | None] = []
        for t, d, still in zip(incoming, local, flat):
            if t is None or d is None or still:
                sent.append(None)
                continue
            c = d * t
            sent.append(c)
            total = c if total is None else total + c
        tangent[node.id] = total
        if trace is not None:
            shown = tuple(0.0 if d is None else d for d in local)
            trace.append(Step(node.id, incoming, shown, tuple(sent), total, flat))
    depends = depends_on_inputs(graph)
    return [(0.0 if t is None else t) if d else None for t, d in zip(tangent, depends)]


def tangent_vectors(
    ops: Sequence[str],
    inputs: Sequence[tuple[int, ...]],
    values: Sequence[Any],
    seeds: Sequence[int],
    arithmetic: tuple[Any, Any],
    zero: Any = 0.0,
    one: Any = 1.0,
    gates: Mapping[str, Gate] = GATES,
    check: Callable[[int], None] | None = None,
) -> list[list[Any] | None]:
    """Every node's derivatives along each unit direction at once: node i's list holds
    d node_i / d node_seeds[k] at position k (None: it depends on no seed).

    `arithmetic` is the (plain, IEEE) pair of rule arithmetics; `check(i)` is
    called every 256 nodes (a budget's clock)."""
    n = len(seeds)
    tangent: list[list[Any] | None] = [None] * len(ops)
    # Which seeds reach each node (bit k: seed k): a component no seed's tangent
    # reaches is a structural zero, as in `tangents`, so an infinite local
    # derivative times it is 0, not inf * 0 = nan (sqrt(x)*y at x = 0: d2/dy dy = 0).
    reach = [0] * len(ops)
    for k, i in enumerate(seeds):
        unit = [zero] * n
        unit[k] = one
        tangent[i] = unit
        reach[i] |= 1 << k
    fast, safe = arithmetic
    for i, op in enumerate(ops):
        if check is not None and not i % 256:
            check(i)
        ins = inputs[i]
        if not ins or tangent[i] is not None:
            continue
        incoming = [tangent[j] for j in ins]
        if all(t is None for t in incoming):
            continue
        gate = gates[op]
        args = [values[j] for j in ins]
        local = local_derivatives(gate, args, values[i], fast, safe)
        flat = _flat(gate, args, values[i])
        total: list[Any] | None = None
        for j, t, d, still in zip(ins, incoming, local, flat):
            if t is None or d is None or still:
                continue
            reach[i] |= reach[j]
            if d == 1.0:
                c = t  # exact: x * 1 is x (the lists are never changed in place)
            elif d == -1.0:
                c = [-x for x in t]
            elif not abs(d) < _INF:  # inf or nan: only where a seed's tangent arrives
                c = [d * x if reach[j] >> k & 1 else zero for k, x in enumerate(t)]
            else:
                c = [d * x for x in t]
            total = c if total is None else [a + b for a, b in zip(total, c)]
        tangent[i] = total if total is not None else [zero] * n
    return tangent
