"""The forward pass (one loop) and the backward pass (one reverse loop).

Both walk the flat node list; neither recurses, and both are linear in the
number of nodes. `backward` *adds* into each input's gradient, so a node
used twice (`x*x`) collects both contributions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from operator import and_
from typing import Any, NamedTuple

from backprop.engine.errors import DomainError, NumericError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Columns, Graph

# From this many nodes on, the passes run loops generated from the rules
# (engine/compiled.py); a smaller graph goes through the table, which costs
# less than generating and compiling the loops.
GENERATED = 2_000


def _fmt(x: float) -> str:
    return repr(float(x))


def forward(
    graph: Graph, at: Mapping[str, float], gates: Mapping[str, Gate] = GATES
) -> list[float]:
    """Every node's value at the point `at` (which must name every input)."""
    nodes = graph.nodes
    if len(nodes) < GENERATED:
        nodes = _node_tuple(nodes)
    values = [0.0] * len(nodes)
    columns = nodes if isinstance(nodes, Columns) else None

    def generic(i: int) -> float:  # a gate without a branch of its own: through the table
        if columns is None:
            node = nodes[i]
            return gates[node.op].forward(*[values[j] for j in node.inputs])
        # A large graph's generated loop calls this for a gate without a branch.
        return gates[columns.ops[i]].forward(*[values[j] for j in columns.inputs(i)])

    if len(nodes) < GENERATED:
        i, err = _forward_by_the_table(nodes, values, at, generic)
    else:
        from backprop.engine.compiled import loop

        i, err = loop(nodes, gates, "forward")(nodes, values, at, generic)
    # Unless an earlier value overflowed silently to inf and this gate choked
    # on it (sin(inf)): that overflow, found below, is the error to report.
    if err is not None and all(map(math.isfinite, values[:i])):
        raise _domain_error(graph, i, values, gates, err) from None
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


def _node_tuple(nodes: Any) -> Any:
    """The Nodes themselves, for a walk through the table: a column graph's are made
    once and kept (engine/graph.py's Columns.made), so each step reads a tuple."""
    return nodes.made() if isinstance(nodes, Columns) else nodes


def _forward_by_the_table(
    nodes: Any, values: list[float], at: Mapping[str, float], generic: Any
) -> tuple[int, Exception | None]:
    """The forward loop of a small graph: every gate through the table."""
    i = 0
    try:
        for i, node in enumerate(nodes):
            if node.inputs:
                values[i] = generic(i)
            else:
                values[i] = at[node.label] if node.op == "var" else node.value
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        return i, err
    return -1, None


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
    # An overflow is numeric, like the silent one NumericError reports.
    return DomainError(message, node.span, "numeric" if isinstance(err, OverflowError) else None)


def depends_on_inputs(graph: Graph) -> Sequence[bool]:
    """Nodes whose value depends on some input (the others have no gradient)."""
    if graph.depends:
        return graph.depends  # read only: the graph's own, not a copy
    if isinstance(graph.nodes, Columns):
        return _depends_by_columns(graph.nodes)
    depends = [False] * len(graph.nodes)
    for i, node in enumerate(graph.nodes):
        ins = node.inputs
        if len(ins) == 2:
            depends[i] = depends[ins[0]] or depends[ins[1]]
        elif len(ins) == 1:
            depends[i] = depends[ins[0]]
        elif not ins:
            depends[i] = node.op == "var"
        else:
            depends[i] = any(depends[j] for j in ins)
    return depends


def _depends_by_columns(nodes: Columns) -> list[bool]:
    """depends_on_inputs from the columns. Along a run of a repeated line, once one
    line's nodes depend as the line before's did, every later line's do: each reads
    the same names and the line before's value (Columns.runs)."""
    depends = [False] * len(nodes)
    ops, arity, first, second, more = nodes.ops, nodes.arity, nodes.first, nodes.second, nodes.more

    def walk(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            k = arity[i]
            if k == 1:
                depends[i] = depends[first[i]]
            elif k == 2:
                depends[i] = depends[first[i]] or depends[second[i]]
            elif not k:
                depends[i] = ops[i] == "var"
            else:
                depends[i] = any([depends[j] for j in more[i]])

    at = 0
    for start, count, total in nodes.runs:
        walk(at, start)
        at = start + total
        for i in range(start, at, count):
            walk(i, i + count)
            if depends[i : i + count] == depends[i - count : i]:
                depends[i + count : at] = depends[i : i + count] * ((at - i) // count - 1)
                break
    walk(at, len(nodes))
    return depends


def live_nodes(graph: Graph, depends: Sequence[bool]) -> Sequence[bool]:
    """Nodes that depend on an input and reach the output: the gradient flows there."""
    if graph.live:
        return graph.live  # read only: the graph's own, not a copy
    nodes = graph.nodes
    reaches = [False] * len(nodes)
    reaches[graph.output] = True
    if isinstance(nodes, Columns):
        _reaches_by_columns(nodes, graph.output, reaches)
    else:
        for i in range(graph.output, -1, -1):
            if reaches[i]:
                for j in nodes[i].inputs:
                    reaches[j] = True
    return list(map(and_, depends, reaches))


def _reaches_by_columns(nodes: Columns, output: int, reaches: list[bool]) -> None:
    """Mark what reaches the output, from the columns. Along a run of a repeated line
    (from its end), once one line's nodes are marked as the line after's were, every
    earlier line's are: only the next line reads a line's nodes."""
    arity, first, second, more = nodes.arity, nodes.first, nodes.second, nodes.more

    def walk(top: int, bottom: int) -> None:  # from node top down to node bottom
        for i in range(top, bottom - 1, -1):
            if reaches[i]:
                k = arity[i]
                if k:
                    reaches[first[i]] = True
                    if k == 2:
                        reaches[second[i]] = True
                    elif k == 3:
                        for j in more[i]:
                            reaches[j] = True

    top = output
    for start, count, total in reversed(nodes.runs):
        end = start + total
        if end - 1 > top:  # the output is in this run, or before it: node by node
            continue
        walk(top, end)
        for i in range(end - count, start - 1, -count):
            walk(i + count - 1, i)
            if i + count < end and reaches[i : i + count] == reaches[i + count : i + 2 * count]:
                reaches[start:i] = reaches[i : i + count] * ((i - start) // count)
                walk(start + count - 1, start)  # what the run's first line marks before it
                break
        top = start - 1
    walk(top, 0)


class Visit(NamedTuple):
    """What the backward pass did at one gate (recorded only when a trace is asked for).

    `local[k]` is the local derivative for input position k and `sent[k]` the
    product added into that input's gradient; `sent[k]` is None where the gate
    is flat in that input and the upstream gradient is inf or nan, so nothing
    was sent (not inf * 0).
    """

    node: int
    upstream: float
    local: tuple[float, ...]
    sent: tuple[float | None, ...]


def backward(
    graph: Graph,
    values: list[float],
    gates: Mapping[str, Gate] = GATES,
    trace: list[Visit] | None = None,
) -> list[float | None]:
    """d output / d node for every node; None where the node depends on no input.

    Seeded with 1 at the output; each gate's vjp rule (the gate table's)
    turns the upstream gradient into what flows to each input, and that is
    added into the input's gradient: the first contribution as it is, the
    others with +, in this order, as the printed gradient program does. A node
    that depends on an input but does not reach the output gets 0.
    With `trace`, one Visit per gate is appended to it, output first: what
    `explain` and `graph` narrate, so that they never redo the arithmetic.
    """
    from backprop.engine.arith import floats

    nodes = graph.nodes
    if trace is not None or len(nodes) < GENERATED:  # the walk through the table below
        nodes = _node_tuple(nodes)
    depends = depends_on_inputs(graph)
    live = graph.live or live_nodes(graph, depends)
    grads: list[float | None] = [None] * len(nodes)
    grads[graph.output] = 1.0
    # The rules run on Python's float operations; a rule that raises (1/0 in a
    # derivative that is infinite) runs again in IEEE arithmetic (inf, nan).
    fast, safe = floats(gates, safe=False), floats(gates, safe=True)
    columns = nodes if isinstance(nodes, Columns) else None

    def visit(i: int, upstream: float, lib: Any) -> None:
        """One gate through the table: its rule, what it sends added into its inputs."""
        if columns is None:
            node = nodes[i]
            op, ins = node.op, node.inputs
        else:  # a large graph's generated loop, at a gate without a branch of its own
            op, ins = columns.ops[i], columns.inputs(i)
        rule = gates[op].vjp
        try:
            sent = rule(lib, upstream, *[values[j] for j in ins], values[i])
        except (ArithmeticError, ValueError):
            sent = rule(safe, upstream, *[values[j] for j in ins], values[i])
        if trace is not None:
            args = [values[j] for j in ins]
            gate = gates[op]
            local = gate.local(*args, values[i])
            trace.append(record_visit(gate, i, upstream, args, values[i], sent, local))
        for j, c in zip(ins, sent):
            if c is not None:
                before = grads[j]
                grads[j] = c if before is None else before + c

    if trace is None and len(nodes) >= GENERATED:  # a loop generated from the rules
        from backprop.engine.compiled import loop

        run = loop(nodes, gates, "backward", graph.output)
        run(
            nodes,
            values,
            grads,
            live,
            graph.output,
            lambda i, g: visit(i, g, fast),
            lambda i, g: visit(i, g, safe),
        )
    else:
        for i in range(graph.output, -1, -1):
            upstream = grads[i]
            if nodes[i].inputs and live[i] and upstream is not None:
                visit(i, upstream, fast)
    return [(0.0 if g is None else g) if d else None for g, d in zip(grads, depends)]


def record_visit(
    gate: Gate, i: int, upstream: Any, args: list[Any], out: Any, sent: tuple, local: tuple
) -> Visit:
    """What explain narrates at one gate: its local derivatives and what it sent
    (None where the gate is flat in that input under an infinite gradient). Floats
    or N-digit numbers alike (the exact passes record their trace with it)."""
    shown = tuple(sent)
    if gate.flat is not None and upstream - upstream != 0:  # inf or nan from above
        still = gate.flat(*args, out)
        shown = tuple(None if s else c for c, s in zip(shown, still))
    return Visit(i, upstream, local, shown)
