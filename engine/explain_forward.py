"""The forward-mode walk-through as data (`backprop explain --forward`).

The forward twin of the backward narration: along a direction of the
inputs, each gate multiplies the tangent of each input (how fast that input
moves along the direction) by its local derivative and adds the products;
that sum is the gate's own tangent, which flows on to the gates that read
it. The numbers are forward mode's own trace (`forward.tangents`), never
recomputed; the words (gate names, formulas) are `explain`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backprop.engine.api import evaluate
from backprop.engine.build import build_graph
from backprop.engine.explain import Operand, _names, _view
from backprop.engine.forward import Step, tangents
from backprop.parser import parse


@dataclass(frozen=True)
class Term:
    """One input's part in a gate's tangent: local derivative times its tangent."""

    to: int  # the input's node id
    var: str
    name: str
    formula: str  # the local derivative's template
    local: float
    incoming: float | None  # the input's tangent (None: it does not move)
    sent: float | None  # local * incoming, as forward mode added it (None: nothing)
    flat: bool


@dataclass(frozen=True)
class TangentStep:
    step: int
    id: int
    op: str
    gate: str
    text: str
    name: str
    formula: str  # the forward template
    operands: tuple[Operand, ...]
    symbols: dict[str, str]
    names: dict[str, str]
    value: float
    terms: tuple[Term, ...]
    tangent: float | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ForwardExplanation:
    source: str
    at: dict[str, float]
    direction: dict[str, float]
    value: float
    output: int
    inputs: tuple[tuple[str, int, float, float], ...]  # name, id, value, tangent
    steps: tuple[TangentStep, ...]
    derivative: float  # the output's tangent: the directional derivative
    gradient_dot: float  # the gradient's dot product with the direction (the same number)
    outputs: int  # backward sweeps reverse mode needs for the whole Jacobian
    notes: tuple[tuple[int, str, str], ...]


def explain_forward(
    source: str, at: Mapping[str, float], direction: Mapping[str, float]
) -> ForwardExplanation:
    """Evaluate with the direction and narrate forward mode, gate by gate."""
    from backprop.engine.outputs import directional_derivative

    result = evaluate(source, at, check=False, direction=direction)
    assert result.direction is not None and result.tangents is not None
    graph = build_graph(parse(source))
    nodes = result.nodes
    values = [n.value for n in nodes]
    trace: list[Step] = []
    tangents(graph, values, result.direction, trace=trace)
    constant = [n.grad is None for n in nodes]
    steps: list[TangentStep] = []
    for visit in trace:
        i = visit.node
        node = nodes[i]
        if constant[i]:
            continue
        view = _view(nodes, node, constant, values)
        words = _names(nodes, node, view)
        operands = tuple(
            Operand(var, j, nodes[j].value, words[var])
            for var, j in zip(view.vars, node.inputs)
            if var not in view.symbols
        )
        terms = []
        for k, j in enumerate(node.inputs):
            template = view.local[k]
            if constant[j] or template is None:
                continue
            var = view.vars[k]
            terms.append(
                Term(
                    j,
                    var,
                    words[var],
                    template,
                    visit.local[k],
                    visit.incoming[k],
                    visit.sent[k],
                    visit.flat[k] and visit.incoming[k] is not None,
                )
            )
        steps.append(
            TangentStep(
                len(steps) + 1,
                i,
                node.op,
                view.name,
                node.text,
                node.name,
                view.forward,
                operands,
                view.symbols,
                words,
                node.value,
                tuple(terms),
                visit.tangent,
                node.notes,
            )
        )
    inputs = tuple((name, i, values[i], result.direction[name]) for name, i in graph.inputs.items())
    derivative = result.directional_derivative
    return ForwardExplanation(
        source,
        dict(result.at),
        dict(result.direction),
        result.value,
        result.output,
        inputs,
        tuple(steps),
        0.0 if derivative is None else derivative,
        directional_derivative(result.gradients, result.direction),
        1,
        tuple((n.id, n.text, note) for n in nodes for note in n.notes),
    )
