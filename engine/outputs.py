"""Several outputs (`--output NAME`) and a direction (`--direction x=1,y=0`) for `evaluate`.

A program's output is its last statement; `--output NAME` names other
statements as outputs too. Each output gets its own backward pass over the
same forward values (one sweep per output), and the last one named becomes
the graph's output, so the table describes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from backprop.engine.api import Result
from backprop.engine.errors import InputError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph
from backprop.engine.passes import backward
from backprop.parser import name_list, shorten

UNUSED = "does not affect the output"


def statement_names(graph: Graph) -> list[str]:
    """The names a program assigns, in order, each once."""
    return list(dict.fromkeys(graph.names[i] for i in sorted(graph.names)))


def _bindings(graph: Graph) -> dict[str, int]:
    """Each input's node, and each assigned name's node at the end of the program.

    `v = u` or `u = x` makes no node (the build gives it the node it reads), so
    the names the graph's nodes carry are not enough: walk the assignments.
    """
    from backprop.parser import parse
    from backprop.parser.tree import Assign, Name

    env: dict[str, int] = dict(graph.inputs)
    made = iter(sorted(graph.names))  # the nodes that assignments made, in order
    for statement in parse(graph.source).statements:
        if not isinstance(statement, Assign):
            continue
        value = statement.value
        if isinstance(value, Name) and value.name in env:
            env[statement.name] = env[value.name]
        else:
            env[statement.name] = next(made)
    return env


def resolve_outputs(graph: Graph, names: Sequence[str]) -> list[int]:
    """The node of each named output: the last binding of an assigned name, or an input."""
    last = _bindings(graph)
    found = []
    unknown = []
    for name in names:
        if name in last:
            found.append(last[name])
        else:
            unknown.append(name)
    if unknown:
        known = [n for n in last if n not in graph.inputs or n in graph.names.values()]
        listed = (
            f"the named statements are: {name_list(known)}"
            if known
            else ("the program names no statement (write NAME = ... to name one)")
        )
        verb = "is not a named statement" if len(unknown) == 1 else "are not named statements"
        raise InputError(f"--output {name_list(unknown)} {verb}; {listed}")
    repeated = [n for n in dict.fromkeys(names) if list(names).count(n) > 1]
    if repeated:
        raise InputError(f"--output {shorten(repeated[0])} is given twice")
    return found


def retarget(graph: Graph, names: Sequence[str]) -> tuple[Graph, list[int]]:
    """The graph with the last named output as its output, and every named output's node."""
    ids = resolve_outputs(graph, names)
    return replace(graph, output=ids[-1], live=()), ids


def output_gradients(
    graph: Graph,
    values: list[float],
    names: Sequence[str],
    ids: Sequence[int],
    gates: Mapping[str, Gate] = GATES,
) -> dict[str, dict[str, float | None]]:
    """d output / d input for each named output: one backward pass each."""
    out: dict[str, dict[str, float | None]] = {}
    for name, i in zip(names, ids):
        grads = backward(replace(graph, output=i, live=()), values, gates)
        out[name] = {n: grads[j] for n, j in graph.inputs.items()}
    return out


def check_direction(graph: Graph, direction: Mapping[str, float]) -> dict[str, float]:
    """The direction over every input (missing ones 0); a name that is not an input is an error."""
    unknown = [n for n in direction if n not in graph.inputs]
    if unknown:
        from backprop.engine.api import list_inputs

        verb = "is not an input" if len(unknown) == 1 else "are not inputs"
        raise InputError(
            f"--direction {name_list(unknown)} {verb}; {list_inputs(list(graph.inputs))}"
        )
    return {name: float(direction.get(name, 0.0)) for name in graph.inputs}


def directional_derivative(
    gradients: Mapping[str, float | None], direction: Mapping[str, float]
) -> float:
    """The gradient's dot product with the direction (components of 0 left out)."""
    total = 0.0
    for name, d in direction.items():
        g = gradients.get(name)
        if d != 0.0 and g is not None:
            total += g * d
    return total


def extend(
    result: Result,
    graph: Graph,
    values: list[float],
    names: Sequence[str],
    ids: Sequence[int],
    direction: Mapping[str, float] | None,
    gates: Mapping[str, Gate] = GATES,
) -> Result:
    """`result` with each named output's gradients and, along `direction`, the tangents."""
    from backprop.engine.forward import tangents

    changes: dict[str, object] = {}
    if names:
        changes["output_gradients"] = output_gradients(graph, values, names, ids, gates)
        # A node that reaches another named output does affect an output: no such note.
        from backprop.engine.passes import depends_on_inputs, live_nodes

        depends = depends_on_inputs(graph)
        reaches = [False] * len(graph.nodes)
        for i in ids:
            for j, live in enumerate(live_nodes(replace(graph, output=i, live=()), depends)):
                reaches[j] = reaches[j] or live
        changes["nodes"] = tuple(
            replace(n, notes=tuple(x for x in n.notes if not x.startswith(UNUSED)))
            if reaches[n.id] and n.notes
            else n
            for n in result.nodes
        )
    if direction is not None:
        found = tangents(graph, values, direction, gates)
        changes["direction"] = dict(direction)
        changes["tangents"] = tuple(found)
        out = found[graph.output]
        changes["directional_derivative"] = 0.0 if out is None else out
    return replace(result, **changes)  # type: ignore[arg-type]
