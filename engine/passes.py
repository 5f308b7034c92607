"""The forward pass (one loop) and the backward pass (one reverse loop).

Both walk the flat node list; neither recurses, and both are linear in the
number of nodes. `backward` *adds* into each input's gradient, so a node
used twice (`x*x`) collects both contributions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from backprop.engine.errors import DomainError, NumericError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph


def _fmt(x: float) -> str:
    return repr(float(x))


def forward(
    graph: Graph, at: Mapping[str, float], gates: Mapping[str, Gate] = GATES
) -> list[float]:
    """Every node's value at the point `at` (which must name every input)."""
    nodes = graph.nodes
    values = [0.0] * len(nodes)
    i = 0
    try:
        for i, node in enumerate(nodes):
            ins = node.inputs
            if not ins:
                values[i] = at[node.label] if node.op == "var" else node.value
            elif len(ins) == 1:
                values[i] = gates[node.op].forward(values[ins[0]])
            elif len(ins) == 2:
                values[i] = gates[node.op].forward(values[ins[0]], values[ins[1]])
            else:
                values[i] = gates[node.op].forward(*[values[j] for j in ins])
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        if all(map(math.isfinite, values[:i])):
            raise _domain_error(graph, i, values, gates, err) from None
        # An earlier value overflowed silently to inf and this gate choked on
        # it (sin(inf)): that overflow, found below, is the error to report.
    # A float operation overflows silently to inf; the sum of all values is
    # finite exactly when every value is (or it overflowed itself: then scan).
    if not math.isfinite(sum(values)):
        for i, value in enumerate(values):
            if not math.isfinite(value):
                node = nodes[i]
                args = ", ".join(_fmt(values[j]) for j in node.inputs)
                raise NumericError(
                    f"{node.op} overflows: {graph.text(node)} is {value} at ({args})",
                    node.span,
                )
    return values


def _domain_error(
    graph: Graph, i: int, values: list[float], gates: Mapping[str, Gate], err: Exception
) -> DomainError:
    node = graph.nodes[i]
    gate = gates[node.op]
    args = [values[j] for j in node.inputs]
    shown = ", ".join(_fmt(a) for a in args)
    if isinstance(err, OverflowError):
        message = f"{node.op} overflows at ({shown}): the value is too large for a float"
    elif node.op == "div":
        message = f"division by zero: the divisor is {_fmt(args[1])}"
    elif node.op == "pow":
        message = f"pow needs {gate.domain}, got {_fmt(args[0])} ** {_fmt(args[1])}"
    else:
        message = f"{node.op} needs {gate.domain or 'a valid argument'}, got {shown}"
    return DomainError(message, node.span)


def depends_on_inputs(graph: Graph) -> list[bool]:
    """Nodes whose value depends on some input (the others have no gradient)."""
    depends = [False] * len(graph.nodes)
    for i, node in enumerate(graph.nodes):
        ins = node.inputs
        if not ins:
            depends[i] = node.op == "var"
        else:
            for j in ins:
                if depends[j]:
                    depends[i] = True
                    break
    return depends


def live_nodes(graph: Graph, depends: list[bool]) -> list[bool]:
    """Nodes that depend on an input and reach the output: the gradient flows there."""
    nodes = graph.nodes
    reaches = [False] * len(nodes)
    reaches[graph.output] = True
    for i in range(graph.output, -1, -1):
        if reaches[i]:
            for j in nodes[i].inputs:
                reaches[j] = True
    return [d and r for d, r in zip(depends, reaches)]


def backward(
    graph: Graph, values: list[float], gates: Mapping[str, Gate] = GATES
) -> list[float | None]:
    """d output / d node for every node; None where the node depends on no input.

    Seeded with 1 at the output; each gate multiplies the upstream gradient
    by its local derivatives and adds the products into its inputs' gradients.
    A node that depends on an input but does not reach the output gets 0.
    """
    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    grads = [0.0] * len(nodes)
    grads[graph.output] = 1.0
    for i in range(graph.output, -1, -1):
        ins = nodes[i].inputs
        if not ins or not live[i]:
            continue
        upstream = grads[i]
        local = gates[nodes[i].op].local
        if len(ins) == 1:
            (d,) = local(values[ins[0]], values[i])
            grads[ins[0]] += upstream * d
        elif len(ins) == 2:
            a, b = ins
            da, db = local(values[a], values[b], values[i])
            grads[a] += upstream * da
            grads[b] += upstream * db
        else:
            for j, d in zip(ins, local(*[values[j] for j in ins], values[i])):
                grads[j] += upstream * d
    return [g if d else None for g, d in zip(grads, depends)]
