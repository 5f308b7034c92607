"""Higher derivatives in one input: the reverse-mode transform applied N times.

`derive.reverse` turns a graph into one whose extra nodes are the adjoints;
its adjoint node of x is a graph of d out / d x, over the same inputs, and
that graph can be transformed again. Each round keeps only the nodes the
new output reads (and the inputs), so the graph of the N-th derivative holds
what it needs and nothing else. Rounds are a loop, and each is one linear
walk: nothing recurses. A derivative's graph can still grow quickly with N
(each round adds a few nodes per gate of the last one), so past
MAX_DERIVED_NODES nodes the build stops with a clear message (kind "limit")
rather than exhausting memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backprop.engine.derive import Derived, reverse
from backprop.engine.errors import InputError
from backprop.engine.graph import Graph, Node
from backprop.parser import BackpropError, Span, name_list

if TYPE_CHECKING:
    from backprop.engine.gradient import GradientText

MAX_DERIVED_NODES = 1_000_000  # a derivative's graph (the README's Limits)
MAX_ORDER = 100


@dataclass(frozen=True)
class Rounds:
    """The N-th derivative: the last round's derived graph (its gradient of `wrt` is the
    N-th derivative), the names to print, and each round's graph size."""

    derived: Derived
    names: dict[int, str]
    sizes: tuple[int, ...]  # nodes the k-th derivative needs, k = 1..N


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _graph_of(
    derived: Derived, output: int, graph: Graph, names: dict[int, str]
) -> tuple[Graph, dict[int, str]]:
    """The nodes of `derived` that `output` reads, and the inputs, as a Graph of their own."""
    count = len(derived.ops)
    keep = [derived.ops[i] == "var" for i in range(count)]
    keep[output] = True
    for i in range(count - 1, -1, -1):
        if keep[i] and derived.ops[i] != "var":
            for j in derived.inputs[i]:
                keep[j] = True
    new = [-1] * count
    nodes: list[Node] = []
    none = Span(0, 0)
    # The same gate on the same nodes computes the same float: one node for it (each
    # round writes dtanh(x) again, and the rounds multiply them).
    seen: dict[tuple[object, ...], int] = {}
    for i in range(count):
        if keep[i]:
            op = derived.ops[i]
            ins = tuple(new[j] for j in derived.inputs[i])
            value = derived.values[i]
            key: tuple[object, ...] = (
                (op, derived.labels[i], value, math.copysign(1.0, value)) if not ins else (op, *ins)
            )
            found = seen.get(key) if op != "var" and i not in names else None
            if found is not None:
                new[i] = found
                continue
            new[i] = len(nodes)
            seen[key] = new[i]
            nodes.append(Node(len(nodes), op, ins, none, derived.labels[i], value))
    inputs = {name: new[i] for name, i in graph.inputs.items()}
    kept = {new[i]: name for i, name in names.items() if i < count and keep[i]}
    return Graph(tuple(nodes), new[output], inputs, graph.source), kept


def nth_derivative(graph: Graph, wrt: str, order: int, limit: int = MAX_DERIVED_NODES) -> Rounds:
    """Apply the reverse-mode transform `order` times, each time to d(last)/d wrt."""
    names = dict(graph.names)
    current = graph
    sizes: list[int] = []
    derived = reverse(current)
    for k in range(1, order + 1):
        if len(derived.ops) > limit:
            raise BackpropError(
                f"the {ordinal(k)} derivative's graph has {len(derived.ops):,} nodes, over the "
                f"limit of {limit:,}: ask for a lower --order",
                kind="limit",
            )
        current, names = _graph_of(derived, derived.gradients[wrt], current, names)
        sizes.append(len(current.nodes))
        if k < order:
            derived = reverse(current)
    return Rounds(derived, names, tuple(sizes))


def higher_program(
    source: str,
    wrt: Sequence[str] | None,
    fmt: str,
    order: int,
    *,
    simplify: bool = False,
    seconds: float = 5.0,
) -> GradientText:
    """`backprop grad --order N`: the N-th derivative in one input, printed as `grad` prints."""
    from backprop.engine.build import build_graph
    from backprop.engine.gradient import GradientText, _symbolic, _wanted
    from backprop.engine.printing import to_bp, to_latex, to_python
    from backprop.parser import parse
    from backprop.parser.parse import cycle_collector_paused

    with cycle_collector_paused():
        graph = build_graph(parse(source))
        wanted = _wanted(graph, wrt)
        if len(wanted) != 1:
            raise InputError(
                f"--order {order} takes the derivative in one input: name it with --wrt "
                f"(the inputs are {name_list(wanted)})"
            )
        name = wanted[0]
        rounds = nth_derivative(graph, name, order)
        if fmt == "sympy" or simplify:
            done = _symbolic(rounds.derived, graph, wanted, fmt, source, simplify, seconds)
        else:
            printer = {"bp": to_bp, "latex": to_latex, "python": to_python}[fmt]
            text = printer(rounds.derived, wanted, rounds.names, source)
            done = GradientText(tuple(wanted), fmt, text, {name: text})
    size = rounds.sizes[-1]
    lines = done.text.split("\n")
    for k, line in enumerate(lines[:3]):
        if "The gradient of" in line:
            line = line.replace("The gradient of", f"The {ordinal(order)} derivative of")
            line = line.replace(", written out", f" by {name}, written out")
            line = line.replace(", simplified", f" by {name}, simplified")
            lines[k] = line.rstrip(".") + f" (a graph of {size:,} nodes)."
        elif f"d out/d {name}" in line:
            lines[k] = line.replace(f"d out/d {name}", f"d^{order} out/d {name}^{order}")
    text = "\n".join(lines)
    return GradientText(done.wrt, fmt, text, {name: text}, done.notes, order, rounds.sizes)
