"""The SymPy cross-check: a second opinion on every node's gradient.

SymPy expressions are built from our graph (never from the program text),
one per node, over real symbols of our own naming. The gradient of the output
with respect to node k is checked by replacing node k with a fresh symbol t,
rebuilding what depends on it, differentiating the output by t and
evaluating at the point (with t = node k's value). This is independent of
our backward pass: no adjoint is shared.

SymPy is slow and recursive (PITFALLS: diff overflows the recursion limit on
a chain of ~40 tanh steps), so the check works inside a time budget, checks
the inputs first, and reports what it could not check, per node, with the
reason; never a crash and never a mismatch.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph

REL_TOL = 1e-9
ABS_TOL = 1e-12
# Above this many nodes that carry a gradient, only the inputs are checked;
# above EXPRESSION_LIMIT nodes, SymPy is not asked at all.
PER_NODE_LIMIT = 200
EXPRESSION_LIMIT = 2_000
DEFAULT_SECONDS = 5.0


@dataclass(frozen=True)
class NodeCheck:
    """SymPy's gradient for one node and the verdict.

    verdict: "ok", "mismatch", "n/a" (a non-differentiable point or a
    non-finite gradient: not comparable), "not checked" (with the reason).
    """

    sympy_grad: float | None
    verdict: str
    reason: str = ""


@dataclass(frozen=True)
class CheckOutcome:
    """Per-node verdicts (None where a node has no gradient) and a summary."""

    nodes: tuple[NodeCheck | None, ...]
    status: str  # "ok", "mismatch", "partial", "not checked"
    scope: str  # "all nodes", "inputs"
    message: str


class _OutOfTime(Exception):
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt a long SymPy call after `seconds` (main thread, POSIX only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _to_float(sp: Any, value: Any) -> float:
    """A SymPy number as a float: oo -> inf, zoo (1/0) -> inf, non-real -> nan."""
    if value is sp.nan:
        return math.nan
    if value is sp.zoo or value is sp.oo:
        return math.inf
    if value is sp.S.NegativeInfinity:
        return -math.inf
    real, imag = value.as_real_imag()
    if imag != 0 and abs(float(imag)) > ABS_TOL * max(1.0, abs(float(real))):
        return math.nan
    return float(real)


def compare(ours: float, theirs: float) -> str:
    """ok, mismatch or n/a (ours is not finite and SymPy's differs)."""
    if math.isfinite(ours) and math.isfinite(theirs):
        close = math.isclose(ours, theirs, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        return "ok" if close else "mismatch"
    if math.isnan(ours) and math.isnan(theirs):
        return "ok"
    if math.isnan(theirs):
        # SymPy met an undefined form (0**t*log(0) for the exponent of 0**t):
        # it has no opinion to compare with.
        return "n/a"
    if math.isinf(ours) and math.isinf(theirs):
        # SymPy's zoo (1/0) has no sign: any infinity agrees with it.
        return "ok" if theirs == ours or theirs == math.inf else "n/a"
    return "n/a" if not math.isfinite(ours) else "mismatch"


def cross_check(
    graph: Graph,
    values: Sequence[float],
    grads: Sequence[float | None],
    kinked: Sequence[bool],
    seconds: float = DEFAULT_SECONDS,
    gates: Mapping[str, Gate] = GATES,
) -> CheckOutcome:
    """Check each node's gradient against SymPy's within `seconds`.

    `kinked[i]` is true where node i's gradient passes through a gate at a
    non-differentiable point: those nodes get "n/a", whatever SymPy says.
    """
    nodes = graph.nodes
    carriers = [i for i, g in enumerate(grads) if g is not None]
    results: list[NodeCheck | None] = [None] * len(nodes)
    if len(nodes) > EXPRESSION_LIMIT:
        reason = (
            f"the graph has {len(nodes):,} nodes, "
            f"over the cross-check's limit of {EXPRESSION_LIMIT:,}"
        )
        for i in carriers:
            results[i] = NodeCheck(None, "not checked", reason)
        status = "not checked" if carriers else "ok"
        return CheckOutcome(tuple(results), status, "none", reason)

    inputs = sorted(graph.inputs.values())
    scope = "all nodes"
    if len(carriers) > PER_NODE_LIMIT:
        scope = "inputs"
    order = inputs + [i for i in reversed(carriers) if nodes[i].op != "var"]
    wanted = set(inputs) if scope == "inputs" else set(carriers)

    deadline = time.monotonic() + seconds
    try:
        with _deadline(seconds):
            import sympy as sp

            expressions, point = _expressions(sp, graph, values, gates)
            for i in order:
                if i not in wanted:
                    continue
                if kinked[i]:
                    results[i] = NodeCheck(
                        None, "n/a", "the gradient passes a non-differentiable point"
                    )
                    continue
                try:
                    theirs = _gradient(sp, graph, expressions, point, values, i, gates)
                except RecursionError:
                    results[i] = NodeCheck(None, "not checked", "SymPy ran out of recursion depth")
                    continue
                except (ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
                    results[i] = NodeCheck(None, "not checked", f"SymPy failed: {err}")
                    continue
                ours = grads[i]
                assert ours is not None
                verdict = compare(ours, theirs)
                reason = ""
                if verdict == "n/a":
                    reason = f"the gradient is {ours}; SymPy gives {theirs}"
                results[i] = NodeCheck(theirs, verdict, reason)
                if time.monotonic() > deadline:
                    raise _OutOfTime
    except _OutOfTime:
        pass
    except RecursionError:
        pass  # building the expressions themselves was too deep for SymPy
    for i in carriers:
        if results[i] is None:
            if i in wanted:
                why = f"out of time (budget {seconds:g} s)"
                if time.monotonic() <= deadline:
                    why = "SymPy ran out of recursion depth"
            else:
                why = f"only the inputs are checked on graphs over {PER_NODE_LIMIT} nodes"
            results[i] = NodeCheck(None, "not checked", why)
    return _summarise(tuple(results), scope)


def _summarise(results: tuple[NodeCheck | None, ...], scope: str) -> CheckOutcome:
    counts: dict[str, int] = {}
    for r in results:
        if r is not None:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
    parts = [f"{n} {verdict}" for verdict, n in sorted(counts.items())]
    message = ", ".join(parts) if parts else "no gradients to check"
    if scope == "inputs":
        message += f" (graph over {PER_NODE_LIMIT} nodes: inputs only)"
    if counts.get("mismatch"):
        status = "mismatch"
    elif counts.get("not checked"):
        status = "partial" if counts.get("ok") or counts.get("n/a") else "not checked"
    else:
        status = "ok"
    return CheckOutcome(results, status, scope, message)


def _constant(sp: Any, label: str, value: float) -> Any:
    if label == "pi":
        return sp.pi
    if label == "e":
        return sp.E
    if value == int(value) and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value, 40)  # the float's exact binary value


def _expressions(
    sp: Any, graph: Graph, values: Sequence[float], gates: Mapping[str, Gate]
) -> tuple[list[Any], dict[Any, Any]]:
    expressions: list[Any] = []
    point: dict[Any, Any] = {}
    for node in graph.nodes:
        if node.op == "var":
            symbol = sp.Symbol(f"x{node.id}", real=True)
            point[symbol] = sp.Float(values[node.id], 40)
            expressions.append(symbol)
        elif node.op == "const":
            expressions.append(_constant(sp, node.label, node.value))
        else:
            expressions.append(gates[node.op].sympy(sp, *[expressions[j] for j in node.inputs]))
    return expressions, point


def _gradient(
    sp: Any,
    graph: Graph,
    expressions: list[Any],
    point: dict[Any, Any],
    values: Sequence[float],
    k: int,
    gates: Mapping[str, Gate],
) -> float:
    """d output / d node k, by SymPy, at the point."""
    nodes = graph.nodes
    if nodes[k].op == "var":
        symbol = expressions[k]
        output = expressions[graph.output]
        at = point
    else:
        symbol = sp.Dummy("t", real=True)
        replaced = {k: symbol}
        for i in range(k + 1, graph.output + 1):
            ins = nodes[i].inputs
            if any(j in replaced for j in ins):
                args = [replaced.get(j, expressions[j]) for j in ins]
                replaced[i] = gates[nodes[i].op].sympy(sp, *args)
        output = replaced.get(graph.output, expressions[graph.output])
        at = {**point, symbol: sp.Float(values[k], 40)}
    derivative = sp.diff(output, symbol)
    return _to_float(sp, derivative.xreplace(at).evalf(30))
