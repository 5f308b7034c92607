"""`evaluate(source, at) -> Result`: the Python API that the CLI renders."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from backprop.engine.build import CONSTANT_VALUES, build_graph
from backprop.engine.errors import InputError
from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph
from backprop.engine.passes import Visit, backward, depends_on_inputs, forward, live_nodes
from backprop.parser import Span, name_list, parse, shorten
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
    nodes: tuple[NodeResult, ...]
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


def _real_tie(ins: tuple[int, ...], values: list[float], out: float, depends: list[bool]) -> bool:
    """A max/min tie is a kink only between different nodes, one of them an input's:
    min(x, y, x) at x < y is min(x, y), and max(2, 2, x) at x < 2 does not move."""
    tied = {j for j in ins if values[j] == out}
    return len(tied) > 1 and any(depends[j] for j in tied)


def _notes(
    graph: Graph, values: list[float], grads: list[float | None], gates: Mapping[str, Gate]
) -> tuple[list[list[str]], list[bool]]:
    """Per-node notes, and which nodes' gradients pass a non-differentiable point."""
    nodes = graph.nodes
    depends = depends_on_inputs(graph)
    live = live_nodes(graph, depends)
    notes: list[list[str]] = [[] for _ in nodes]
    kinked = [False] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if depends[i] and not live[i]:
            notes[i].append("does not affect the output: gradient 0")
        grad = grads[i]
        if grad is not None and not math.isfinite(grad):
            kind = "nan" if math.isnan(grad) else ("+inf" if grad > 0 else "-inf")
            notes[i].append(f"gradient is {kind}")
        if not live[i]:
            continue
        gate = gates[node.op]
        note = gate.kink(*[values[j] for j in node.inputs], values[i]) if gate.kink else None
        if note and gate.arity == -1 and not _real_tie(node.inputs, values, values[i], depends):
            note = None
        if note:
            notes[i].append(note)
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
) -> Result:
    """Parse, build, run forward and backward, cross-check with SymPy, and report.

    With `trace`, `result.trace` records what the backward pass did at each
    gate (for `explain` and `graph`). With `digits`, the passes run again in
    that many significant digits (mpmath): values and gradients are those,
    rounded to floats, and each node carries them as decimal strings too.
    With `fd`, `result.fd` holds each input's finite difference (engine/fd.py).
    Raises a BackpropError (ParseError, InputError, DomainError,
    NumericError) for bad input; a check disagreement is `result.check`.
    """
    visits: list[Visit] | None = [] if trace else None
    with cycle_collector_paused():
        graph = build_graph(parse(source))
        point = resolve_point(graph, at or {})
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

    checks: list = [None] * len(graph.nodes)
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
        summary = Check(
            "none",
            "skipped",
            "none",
            "cross-check skipped (--no-check)",
            dict.fromkeys(VERDICTS, 0),
            dict.fromkeys(METHODS, 0),
        )

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
    notes: list[list[str]],
    checks: list,
) -> tuple[NodeResult, ...]:
    results = []
    names = graph.names
    for node in graph.nodes:
        c = checks[node.id]
        results.append(
            NodeResult(
                node.id,
                node.op,
                graph.text(node) if node.op != "var" else node.label,
                node.span,
                node.inputs,
                values[node.id],
                grads[node.id],
                tuple(notes[node.id]),
                c.sympy_grad if c else None,
                c.verdict if c else None,
                c.reason if c else "",
                c.kind if c else None,
                names.get(node.id, ""),
            )
        )
    return tuple(results)
