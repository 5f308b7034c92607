"""`evaluate(source, at) -> Result`: the Python API that the CLI renders."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress
from operator import gt
from typing import TYPE_CHECKING, Any

from backprop.engine.build import CONSTANT_VALUES, read_graph
from backprop.engine.errors import InputError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph, ops_of
from backprop.engine.passes import Visit, backward, depends_on_inputs, forward, live_nodes
from backprop.engine.results import NodeResults
from backprop.parser import Span, name_list, shorten
from backprop.parser.parse import cycle_collector_paused

if TYPE_CHECKING:
    from backprop.engine.fd import FiniteDifference

# The check's words, here so that a run without the check needs not import it.
VERDICTS = ("ok", "mismatch", "inaccurate", "n/a", "not checked")
METHODS = ("adjoint", "local")


@dataclass(frozen=True)
class NodeResult:
    """One node as reported: what it computes, its value and gradient, the check's word."""

    id: int
    op: str
    text: str
    span: Span
    inputs: tuple[int, ...]
    value: float
    grad: float | None  # None: the node depends on no input
    notes: tuple[str, ...] = ()
    sympy_grad: float | None = None
    verdict: str | None = None  # None where unchecked by choice or no gradient
    reason: str = ""
    check: str | None = None  # the kind of check behind the verdict: "adjoint" or "local"
    name: str = ""  # the name the program assigned this node (`h1 = tanh(w*x)`), if any
    value_exact: str | None = None  # with digits: the value and gradient in N digits
    grad_exact: str | None = None


@dataclass(frozen=True)
class Check:
    """The cross-check's summary: method, status, scope, a one-line message, and
    how many nodes got each verdict and each kind of check."""

    method: str  # "sympy" or "none"
    # The worst verdict that occurred: "mismatch", "inaccurate", "partial" (some
    # nodes not checked), "n/a", "ok"; "not checked" (none could be); "skipped".
    status: str
    scope: str  # "all nodes", "none"
    message: str
    counts: Mapping[str, int] = field(default_factory=dict)  # verdict -> nodes
    methods: Mapping[str, int] = field(default_factory=dict)  # "adjoint"/"local" -> nodes


@dataclass(frozen=True)
class Result:
    """Everything a renderer needs; renderers arrange it and never compute."""

    source: str
    at: dict[str, float]
    value: float
    output: int
    gradients: dict[str, float | None]
    nodes: Sequence[NodeResult]  # a NodeResults: each made as it is read
    check: Check
    # What the backward pass did at each gate, output first (evaluate(trace=True)).
    trace: tuple[Visit, ...] | None = field(default=None, repr=False, compare=False)
    digits: int | None = None  # evaluate(digits=N): N-digit arithmetic (nodes carry *_exact)
    value_exact: str | None = None
    gradients_exact: dict[str, str | None] | None = None
    # With digits: every value and gradient as mpmath numbers (engine.exact.Exact).
    exact: Any = field(default=None, repr=False, compare=False)
    # evaluate(fd=True): each input's finite difference (engine/fd.py), by name.
    fd: dict[str, FiniteDifference] | None = None
    # evaluate(outputs=[...]): each named output's input gradients (the last is `output`).
    output_gradients: dict[str, dict[str, float | None]] | None = None
    # evaluate(direction={...}): each node's derivative along it (forward mode), and the output's.
    direction: dict[str, float] | None = None
    tangents: tuple[float | None, ...] | None = None
    directional_derivative: float | None = None


def skipped_check() -> Check:
    """The summary of a check that was not run (--no-check), every count 0."""
    return Check(
        "none",
        "skipped",
        "none",
        "cross-check skipped (--no-check)",
        dict.fromkeys(VERDICTS, 0),
        dict.fromkeys(METHODS, 0),
    )


def known_inputs(graph: Graph, wrt: Sequence[str] | None) -> list[str]:
    """The program's inputs, refusing a program without any and names in `wrt` that are
    not inputs (InputError, listing the inputs): the check before choosing some of them."""
    names = list(graph.inputs)
    if not names:
        raise InputError("the program has no inputs: there is nothing to differentiate")
    unknown = [n for n in wrt or () if n not in graph.inputs]
    if unknown:
        verb = "is not an input" if len(unknown) == 1 else "are not inputs"
        raise InputError(f"{name_list(unknown)} {verb}; {list_inputs(names)}")
    return names


def list_inputs(names: list[str]) -> str:
    """The first ten input names and how many more."""
    if not names:
        return "the program has no inputs"
    return f"inputs are: {name_list(names)}"


def resolve_point(graph: Graph, at: Mapping[str, float]) -> dict[str, float]:
    """`at` restricted to the graph's inputs; a missing or unknown name is an InputError."""
    names = list(graph.inputs)
    unknown = [name for name in at if name not in graph.inputs]
    constants = [name for name in unknown if name in CONSTANT_VALUES]
    if constants:
        name = constants[0]
        raise InputError(
            f"{name} is the constant {CONSTANT_VALUES[name]!r}, not an input, so --at cannot "
            f"set it; to give {name} another value, assign it in the program ({name} = 2; ...), "
            "or call the input by another name"
        )
    if unknown:
        verb = "is not an input" if len(unknown) == 1 else "are not inputs"
        raise InputError(f"{name_list(unknown)} {verb}; {list_inputs(names)}")
    missing = [name for name in names if name not in at]
    if missing:
        raise InputError(
            f"missing a value for {name_list(missing)} "
            f"(give it with --at NAME=VALUE); {list_inputs(names)}"
        )
    for name, value in at.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(
                f"the value of {shorten(name)} must be a finite number, got {shorten(repr(value))}"
            )
    return {name: float(at[name]) for name in names}


def _real_tie(
    ins: tuple[int, ...], values: list[float], out: float, depends: Sequence[bool]
) -> bool:
    """A max/min tie is a kink only between different nodes, one of them an input's:
    min(x, y, x) at x < y is min(x, y), and max(2, 2, x) at x < 2 does not move."""
    tied = {j for j in ins if values[j] == out}
    return len(tied) > 1 and any(depends[j] for j in tied)


class _Nowhere(Sequence[bool]):
    """No node's gradient passes a kink: `[False] * count` without the list."""

    __slots__ = ("_count",)

    def __init__(self, count: int) -> None:
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [False] * len(range(*index.indices(self._count)))
        if not -self._count <= index < self._count:
            raise IndexError("node index out of range")
        return False


def _notes(
    graph: Graph, values: list[float], grads: list[float | None], gates: Mapping[str, Gate]
) -> tuple[dict[int, list[str]], Sequence[bool]]:
    """Per-node notes (by node id, where there are any), and which nodes' gradients
    pass a non-differentiable point."""
    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    notes: dict[int, list[str]] = {}  # few nodes have notes: a million empty lists cost 56 MB
    # Most programs have every gradient finite and no live gate that can be at a
    # kink: then the only notes are on nodes that do not affect the output.
    kinks = {name for name, gate in gates.items() if gate.kink}
    ops = ops_of(nodes)
    if math.isfinite(sum(filter(None, grads))) and not any(
        map(kinks.__contains__, compress(ops, live))
    ):
        # Nodes that depend on an input but do not reach the output: d > live.
        for i in reversed(list(compress(range(len(nodes)), map(gt, depends, live)))):
            notes[i] = ["does not affect the output: gradient 0"]
        return notes, _Nowhere(len(nodes))
    kinked = [False] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if depends[i] and not live[i]:
            notes.setdefault(i, []).append("does not affect the output: gradient 0")
        grad = grads[i]
        if grad is not None and not math.isfinite(grad):
            kind = "nan" if math.isnan(grad) else ("+inf" if grad > 0 else "-inf")
            notes.setdefault(i, []).append(f"gradient is {kind}")
        if not live[i]:
            continue
        gate = gates[node.op]
        note = gate.kink(*[values[j] for j in node.inputs], values[i]) if gate.kink else None
        if note and gate.arity == -1 and not _real_tie(node.inputs, values, values[i], depends):
            note = None
        if note:
            notes.setdefault(i, []).append(note)
        if note or kinked[i]:
            # The gradient of each input flows through this non-differentiable point.
            for j in node.inputs:
                kinked[j] = True
    return notes, kinked


def evaluate(
    source: str,
    at: Mapping[str, float] | None = None,
    *,
    check: bool = True,
    check_seconds: float | None = None,
    gates: Mapping[str, Gate] = GATES,
    trace: bool = False,
    digits: int | None = None,
    fd: bool = False,
    outputs: Sequence[str] = (),
    direction: Mapping[str, float] | None = None,
) -> Result:
    """Parse, build, run forward and backward, cross-check with SymPy, and report.

    With `trace`, `result.trace` records what the backward pass did at each
    gate (for `explain` and `graph`). With `digits`, the passes run again in
    that many significant digits (mpmath): values and gradients are those,
    rounded to floats, and each node carries them as decimal strings too.
    With `fd`, `result.fd` holds each input's finite difference (engine/fd.py).
    With `outputs` (assigned names), each gets its input gradients and the
    last is the output; with `direction`, forward mode gives each node's tangent.
    Raises a BackpropError (ParseError, InputError, DomainError,
    NumericError) for bad input; a check disagreement is `result.check`.
    """
    visits: list[Visit] | None = [] if trace else None
    with cycle_collector_paused():
        graph = read_graph(source)
        point = resolve_point(graph, at or {})
        if outputs or direction is not None:
            from backprop.engine import outputs as several

            named: list[int] = []
            if outputs:
                graph, named = several.retarget(graph, outputs)
            if direction is not None:
                direction = several.check_direction(graph, direction)
        values = forward(graph, point, gates)
        grads = backward(graph, values, gates, visits)
        notes, kinked = _notes(graph, values, grads, gates)
    exact = None
    if digits is not None:
        from backprop.engine.exact import exact_passes

        depends = depends_on_inputs(graph)
        live = live_nodes(graph, depends)
        exact = exact_passes(graph, point, digits, depends, live, gates, trace)
        values, grads = exact.floats()
        if trace:
            visits = list(exact.trace or ())

    checks: list | None = None  # each node's check, when there is one
    if check:
        from backprop.engine.check import DEFAULT_SECONDS, cross_check

        seconds = DEFAULT_SECONDS if check_seconds is None else check_seconds
        outcome = cross_check(graph, values, grads, kinked, seconds, gates)
        checks = list(outcome.nodes)
        summary = Check(
            "sympy",
            outcome.status,
            outcome.scope,
            outcome.message,
            outcome.counts,
            outcome.methods,
        )
    else:
        summary = skipped_check()

    with cycle_collector_paused():
        nodes = _node_results(graph, values, grads, notes, checks)
    gradients = {name: grads[i] for name, i in graph.inputs.items()}
    differences = None
    if fd:
        from backprop.engine.fd import finite_differences

        differences = finite_differences(graph, point, grads, kinked, gates)
    result = Result(
        source,
        point,
        values[graph.output],
        graph.output,
        gradients,
        nodes,
        summary,
        None if visits is None else tuple(visits),
        fd=differences,
    )
    if outputs or direction is not None:
        result = several.extend(result, graph, values, outputs, named, direction, gates)
    if exact is None:
        return result
    texts = exact.texts()
    return replace(
        result,
        nodes=tuple(
            replace(n, value_exact=v, grad_exact=g) for n, (v, g) in zip(result.nodes, texts)
        ),
        digits=digits,
        value_exact=texts[graph.output][0],
        gradients_exact={name: texts[i][1] for name, i in graph.inputs.items()},
        exact=exact,
    )


def _node_results(
    graph: Graph,
    values: list[float],
    grads: list[float | None],
    notes: dict[int, list[str]],
    checks: list | None,
) -> NodeResults:
    """The nodes as reported, each made when it is read (engine/results.py)."""
    return NodeResults(graph, values, grads, notes, checks)
