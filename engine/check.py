"""The SymPy cross-check: a second opinion on every node's gradient, of two kinds.

adjoint  SymPy differentiates the whole program: the gradient of the output
         with respect to node k is found by replacing node k with a fresh
         symbol t, rebuilding what depends on it, differentiating the output
         by t and evaluating at the point in exact arithmetic. Independent of
         our backward pass, but quadratic in the graph and recursive (PITFALLS:
         SymPy's diff overflows the recursion limit on ~40 nested tanh steps).

local    Linear in the graph: each gate's value and local derivatives are
         SymPy's derivatives of the gate's own SymPy counterpart, evaluated
         at the node's computed input values (in 113-bit arithmetic), and the
         chain rule is run again with them. Our gradient must agree within a
         rounding bound carried along (each product and sum is within eps).
         It checks every gate rule and the backward pass, at the values the
         forward pass computed.

Every node first gets the local check, then, on graphs small enough, the
adjoint check, inputs first, inside the time budget; a node keeps the best
check it got. Where the adjoint check disagrees but the local one agrees, the
difference is float rounding in the forward values (an ill-conditioned
program): verdict "n/a", with SymPy's exact number in the reason. What the
budget does not reach is "not checked" with the reason; never a crash and
never a mismatch.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Graph
from backprop.engine.passes import depends_on_inputs, live_nodes

REL_TOL = 1e-9
ABS_TOL = 1e-12
EPS = sys.float_info.epsilon
# The adjoint check: on graphs with more than PER_NODE_LIMIT gradients it
# covers the inputs only; past EXPRESSION_LIMIT nodes SymPy is not asked for
# whole-program derivatives at all. The local check covers every node.
PER_NODE_LIMIT = 200
EXPRESSION_LIMIT = 2_000
DEFAULT_SECONDS = 5.0
MAX_SECONDS = 86_400.0  # a day: the interval timer cannot hold much more
PRECISION_BITS = 113  # the local check's arithmetic: quadruple precision
INTERNAL_ERROR = "internal error in the cross-check"


@dataclass(frozen=True)
class NodeCheck:
    """SymPy's gradient for one node, the verdict, and the kind of check that gave it.

    verdict: "ok", "mismatch", "n/a" (a non-differentiable point, a
    non-finite gradient, or a difference that float rounding explains: not
    comparable), "not checked" (with the reason). kind: "adjoint", "local",
    or None where nothing was compared.
    """

    sympy_grad: float | None
    verdict: str
    reason: str = ""
    kind: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """Per-node verdicts (None where a node has no gradient) and a summary."""

    nodes: tuple[NodeCheck | None, ...]
    status: str  # "ok", "mismatch", "partial", "not checked"
    scope: str  # "all nodes", "inputs", "none"
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
    signal.setitimer(signal.ITIMER_REAL, min(max(seconds, 0.001), MAX_SECONDS))
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
    """ok, mismatch or n/a (ours is not finite and SymPy's differs, or SymPy's is nan)."""
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


# --- the local check: SymPy's derivative of each gate, evaluated with mpmath ----------


class _Unsupported(Exception):
    """A SymPy expression the small evaluator below does not know."""


@dataclass
class _Rule:
    """A gate's SymPy value and local derivatives, compiled for fast evaluation."""

    value: Any
    locals: list[Any]


@dataclass
class _Evaluator:
    """Evaluates a gate's SymPy expressions at float inputs in 113-bit arithmetic.

    SymPy's own substitution and evalf take about a millisecond per node; a
    compiled expression (nested tuples of mpmath operations) takes tens of
    microseconds, which is what makes the check linear in practice too.
    Nothing here reads program text: the expressions come from the gate table.
    """

    sp: Any
    ctx: Any
    rules: dict[tuple[str, int], _Rule | None] = field(default_factory=dict)

    def rule(self, gate: Gate, arity: int) -> _Rule | None:
        key = (gate.name, arity)
        if key not in self.rules:
            sp = self.sp
            symbols = [sp.Symbol(f"a{k}", real=True) for k in range(arity)]
            expr = gate.sympy(sp, *symbols)
            # powsimp: SymPy writes d/da a**b as a**b*b/a, which is 0/0 at a = 0;
            # b*a**(b - 1) is the same function and defined there.
            derivatives = [sp.powsimp(sp.diff(expr, s)) for s in symbols]
            try:
                compiled = _Rule(
                    self.compile(expr, symbols), [self.compile(d, symbols) for d in derivatives]
                )
            except _Unsupported:
                compiled = None
            self.rules[key] = compiled
        return self.rules[key]

    def compile(self, expr: Any, symbols: list[Any]) -> Any:
        sp, ctx = self.sp, self.ctx
        if expr in symbols:
            return ("arg", symbols.index(expr))
        if expr is sp.pi:
            return ("num", ctx.pi)
        if expr is sp.E:
            return ("num", ctx.e)
        if expr.is_Integer:
            return ("num", ctx.mpf(int(expr)))
        if expr.is_Rational:
            return ("num", ctx.mpf(int(expr.p)) / int(expr.q))
        if expr.is_Float:
            return ("num", ctx.make_mpf(expr._mpf_))
        if isinstance(expr, sp.Piecewise):
            # where(c, t, f) is Piecewise((t, c > 0), (f, True)), and so is its derivative.
            (t, cond), (f, otherwise) = expr.args
            if otherwise is not sp.true or not isinstance(cond, sp.StrictGreaterThan):
                raise _Unsupported("Piecewise")
            c = cond.lhs - cond.rhs
            return ("where", [self.compile(x, symbols) for x in (c, t, f)])
        if isinstance(expr, sp.DiracDelta):
            # sign's derivative: 0 away from 0 (at 0 the gate is at a kink: n/a).
            return ("delta", [self.compile(expr.args[0], symbols)])
        kids = [self.compile(arg, symbols) for arg in expr.args]
        if expr.is_Add:
            return ("add", kids)
        if expr.is_Mul:
            return ("mul", kids)
        if expr.is_Pow:
            return ("pow", kids)
        if isinstance(expr, sp.Heaviside):
            return ("heaviside", kids)
        if isinstance(expr, (sp.Max, sp.Min)):
            return ("max" if isinstance(expr, sp.Max) else "min", kids)
        name = _MPMATH_FUNCTIONS.get(type(expr).__name__)
        if name is None:
            raise _Unsupported(type(expr).__name__)
        return ("fn", getattr(ctx, name), kids)

    def run(self, code: Any, args: Sequence[Any]) -> Any:
        """The value of compiled `code` at `args`; inf for a division by zero."""
        try:
            return self._run(code, args)
        except ZeroDivisionError:
            return self.ctx.inf
        except (ValueError, OverflowError, TypeError):
            return self.ctx.nan

    def _run(self, code: Any, args: Sequence[Any]) -> Any:
        kind = code[0]
        if kind == "arg":
            return args[code[1]]
        if kind == "num":
            return code[1]
        values = [self._run(kid, args) for kid in code[-1]]
        ctx = self.ctx
        if kind == "add":
            return ctx.fsum(values)
        if kind == "mul":
            return ctx.fprod(values)
        if kind == "pow":
            return ctx.power(values[0], values[1])
        if kind == "fn":
            return code[1](*values)
        if kind == "where":
            return values[1] if values[0] > 0 else values[2]
        if kind == "delta":
            return ctx.zero if values[0] != 0 else ctx.nan
        if kind == "heaviside":
            x = values[0]
            half = values[1] if len(values) > 1 else ctx.mpf(0.5)
            return ctx.one if x > 0 else ctx.zero if x < 0 else half
        return max(values) if kind == "max" else min(values)

    def real(self, x: Any) -> Any:
        """A real mpf: a complex result with a non-negligible imaginary part is nan."""
        ctx = self.ctx
        if isinstance(x, ctx.mpc):
            if abs(x.imag) > ctx.mpf(ABS_TOL) * max(1, abs(x.real)):
                return ctx.nan
            return x.real
        return x


# SymPy's function names -> mpmath's, any number of arguments (atan2(y, x) is
# atan2 in both). SymPy writes log2(a) as log(a)/log(2), hypot as a sqrt,
# logsumexp as log(exp(a) + exp(b) + ...) and max/min as Max/Min (above).
_MPMATH_FUNCTIONS = {
    "exp": "exp",
    "log": "ln",
    "log1p": "log1p",
    "expm1": "expm1",
    "erf": "erf",
    "atan2": "atan2",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "Abs": "fabs",
    "sign": "sign",
}


@dataclass
class _Local:
    """The local check's findings, filled in as far as the budget allows."""

    results: dict[int, NodeCheck] = field(default_factory=dict)
    bad_values: dict[int, str] = field(default_factory=dict)  # node -> what is wrong
    # node -> why it has no verdict: a gate on its way to the output has a
    # SymPy counterpart the evaluator cannot compile
    unsupported: dict[int, str] = field(default_factory=dict)


def _fmt(x: float) -> str:
    return repr(float(x))


def _local_pass(
    evaluator: _Evaluator,
    graph: Graph,
    values: Sequence[float],
    grads: Sequence[float | None],
    gates: Mapping[str, Gate],
    found: _Local,
    deadline: float,
) -> None:
    """Check every gate's value and local derivatives, and rerun the chain rule.

    One reverse sweep from the output. When the sweep reaches node i, every
    consumer of i is done, so SymPy's gradient of node i (`ref`) and the
    bound on our rounding (`bound`) are final: node i gets its verdict, then
    passes ref[i] times SymPy's local derivatives to its inputs.

    The bound, for node j with consumers i (our gradient g_i, SymPy's local
    derivative D_ij, our float local derivative's allowance t_ij):

        bound_j = sum_i  bound_i*|D_ij| + |g_i|*t_ij + 2*(m_j+1)*eps*|g_i*D_ij|

    with m_j the number of consumers (the products and sums rounded on the
    way), and t_ij = 8*eps*(|D_ij| + |value_i|) plus how much D_ij moves when
    the inputs move by 4 eps (formulas such as 1 - out**2 lose digits), plus
    |D_ij / V_i| times the smallest float, V_i being SymPy's value of node i:
    a value that underflows (1e-300/1e300 is 0.0) is off by up to that much,
    and a local derivative written with it (-out/b) by that much over V_i.
    Each float result, local derivatives and products included, may also be
    off by the smallest float itself where it underflows.
    Everything here is in 113-bit arithmetic, which neither underflows nor
    overflows where floats do.
    """
    ctx = evaluator.ctx
    nodes = graph.nodes
    live = live_nodes(graph, depends_on_inputs(graph))
    uses = [0] * len(nodes)
    for node in nodes:
        if live[node.id]:
            for j in node.inputs:
                uses[j] += 1
    ref: list[Any] = [ctx.zero] * len(nodes)
    ref[graph.output] = ctx.one
    bound: list[Any] = [ctx.zero] * len(nodes)
    culprit: list[str] = [""] * len(nodes)  # a wrong local derivative on the way
    blocked: list[str] = [""] * len(nodes)  # a gate on the way the check cannot evaluate
    up, down = ctx.mpf(1 + 4 * EPS), ctx.mpf(1 - 4 * EPS)
    eps, smallest = ctx.mpf(EPS), ctx.mpf(5e-324)

    for i in range(len(nodes) - 1, -1, -1):  # past the output: gradient 0, nothing to pass on
        if not i % 256 and time.monotonic() > deadline:
            raise _OutOfTime  # off the main thread there is no alarm
        grad = grads[i]
        if grad is None:
            continue  # depends on no input: no gradient, no check
        if blocked[i]:
            found.unsupported[i] = blocked[i]  # SymPy's gradient here is incomplete
        else:
            found.results[i] = _local_verdict(ctx, grad, ref[i], bound[i], culprit[i])
        node = nodes[i]
        if not node.inputs or not live[i]:
            continue
        gate = gates[node.op]
        rule = evaluator.rule(gate, len(node.inputs))
        if rule is None or blocked[i]:
            why = blocked[i] or f"the gate-by-gate check cannot evaluate {node.op}"
            for j in node.inputs:
                blocked[j] = blocked[j] or why
        if rule is None:
            continue
        args = [ctx.mpf(values[j]) for j in node.inputs]
        value = evaluator.real(evaluator.run(rule.value, args))
        if not _close(ctx, values[i], value):
            found.bad_values[i] = (
                f"the value of {node.op} at node {i} is {_fmt(values[i])}; "
                f"SymPy gives {_fmt(float(value))} at the same inputs"
            )
        ours = _our_locals(gate, [values[j] for j in node.inputs], values[i])
        raised = [ctx.mpf(values[j]) * up for j in node.inputs]
        lowered = [ctx.mpf(values[j]) * down for j in node.inputs]
        upstream = abs(ctx.mpf(grad))
        out = abs(ctx.mpf(values[i]))
        still: tuple[bool, ...] = ()
        if gate.flat and not ctx.isfinite(ref[i]):
            # The gate's output stays put in these inputs: an exact zero, not inf * 0.
            still = gate.flat(*[values[j] for j in node.inputs], values[i])
        for p, j in enumerate(node.inputs):
            if still and still[p]:
                continue
            local = evaluator.real(evaluator.run(rule.locals[p], args))
            ref[j] += ref[i] * local
            d = abs(local)
            moved = max(
                abs(evaluator.real(evaluator.run(rule.locals[p], raised)) - local),
                abs(evaluator.real(evaluator.run(rule.locals[p], lowered)) - local),
            )
            allowance = 8 * eps * (d + out) + moved + smallest
            if value and ctx.isfinite(value):
                allowance += d / abs(value) * smallest
            term = upstream * d if d else ctx.zero
            # A product or sum that underflows is off by up to the smallest float.
            rounding = 2 * (uses[j] + 1) * (eps * term + smallest)
            bound[j] += bound[i] * d + upstream * allowance + rounding
            if ctx.isnan(bound[j]):
                bound[j] = ctx.inf
            mine = ours[p] if p < len(ours) else math.nan
            if not culprit[j]:
                culprit[j] = culprit[i]
            if (
                not culprit[j]
                and math.isfinite(mine)
                and abs(ctx.mpf(mine) - local) > allowance + REL_TOL * d
            ):
                culprit[j] = (
                    f"the local derivative of {node.op} at node {i} is {_fmt(mine)}, "
                    f"SymPy's {_fmt(float(local))}"
                )


def _our_locals(gate: Gate, args: list[float], out: float) -> tuple[float, ...]:
    try:
        return tuple(gate.local(*args, out))
    except Exception:  # a broken rule is reported by the verdicts, not raised here
        return ()


def _close(ctx: Any, ours: float, theirs: Any) -> bool:
    if not ctx.isfinite(theirs):
        return False
    return math.isclose(ours, float(theirs), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _local_verdict(ctx: Any, ours: float, ref: Any, bound: Any, culprit: str) -> NodeCheck:
    if isinstance(ref, ctx.mpc) or not ctx.isfinite(ref) or not math.isfinite(ours):
        theirs = math.nan if isinstance(ref, ctx.mpc) else float(ref)
        verdict = compare(ours, theirs)
        reason = f"the gradient is {ours}; SymPy gives {theirs}" if verdict == "n/a" else ""
        if verdict == "mismatch":
            reason = culprit or f"SymPy's chain rule at the computed values gives {theirs}"
        return NodeCheck(theirs if math.isfinite(theirs) else None, verdict, reason, "local")
    # Compared at 113 bits: SymPy's gradient may lie beyond the float range.
    theirs = float(ref)
    diff = abs(ctx.mpf(ours) - ref)
    if diff <= REL_TOL * abs(ref) + ABS_TOL:
        return NodeCheck(theirs, "ok", "", "local")
    if diff <= bound:
        return NodeCheck(
            theirs,
            "n/a",
            f"ill-conditioned: float rounding can move this gradient by up to "
            f"{ctx.nstr(bound, 3)}, more than it differs from SymPy's {ctx.nstr(ref, 17)}",
            "local",
        )
    reason = culprit or f"SymPy's chain rule at the computed values gives {ctx.nstr(ref, 17)}"
    return NodeCheck(theirs, "mismatch", reason, "local")


# --- the adjoint check: SymPy differentiates the whole program -------------------------


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


def _adjoint_pass(
    sp: Any,
    graph: Graph,
    values: Sequence[float],
    grads: Sequence[float | None],
    order: list[int],
    gates: Mapping[str, Gate],
    results: dict[int, NodeCheck],
    failures: dict[int, str],
    deadline: float,
) -> None:
    """The adjoint check for the nodes in `order`, as far as the budget allows."""
    expressions, point = _expressions(sp, graph, values, gates)
    for i in order:
        if time.monotonic() > deadline:
            raise _OutOfTime
        try:
            theirs = _gradient(sp, graph, expressions, point, values, i, gates)
        except RecursionError:
            failures[i] = "SymPy ran out of recursion depth"
            continue
        except (ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
            failures[i] = f"SymPy failed: {err}"
            continue
        ours = grads[i]
        assert ours is not None
        verdict = compare(ours, theirs)
        reason = f"the gradient is {ours}; SymPy gives {theirs}" if verdict == "n/a" else ""
        results[i] = NodeCheck(theirs, verdict, reason, "adjoint")


# --- the whole check ---------------------------------------------------------------------------


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
    if not carriers:
        return _summarise(tuple([None] * len(nodes)), "all nodes")

    started = time.monotonic()
    # Imported before the alarm is set: an import cut short would leave
    # SymPy half-initialised for the rest of the process.
    import mpmath
    import sympy as sp

    seconds = min(seconds, MAX_SECONDS) if seconds == seconds else 0.0  # nan: no time
    deadline = started + seconds
    # Keep back what putting the verdicts together takes (about a microsecond
    # a node), so that the whole check ends within the budget.
    remaining = deadline - time.monotonic() - min(seconds / 2, 1.5e-6 * len(nodes))
    local = _Local()
    adjoint: dict[int, NodeCheck] = {}
    failures: dict[int, str] = {}
    inputs = sorted(graph.inputs.values())
    if len(nodes) > EXPRESSION_LIMIT:
        no_adjoint = (
            f"the graph has {len(nodes):,} nodes, over the adjoint check's limit of "
            f"{EXPRESSION_LIMIT:,}"
        )
        wanted: list[int] = []
    else:
        no_adjoint = (
            f"the adjoint check covers only the inputs on graphs with more than "
            f"{PER_NODE_LIMIT} gradients"
        )
        everyone = len(carriers) <= PER_NODE_LIMIT
        others = [i for i in reversed(carriers) if nodes[i].op != "var"] if everyone else []
        wanted = [i for i in inputs + others if not kinked[i]]
    why_stopped = ""
    context = mpmath.MPContext()
    context.prec = PRECISION_BITS
    evaluator = _Evaluator(sp, context)
    if remaining <= 0:
        why_stopped = f"out of time (budget {seconds:g} s)"
    else:
        try:
            with _deadline(remaining):
                _local_pass(evaluator, graph, values, grads, gates, local, deadline)
                if wanted:
                    _adjoint_pass(
                        sp, graph, values, grads, wanted, gates, adjoint, failures, deadline
                    )
        except _OutOfTime:
            why_stopped = f"out of time (budget {seconds:g} s)"
        except RecursionError:
            why_stopped = "SymPy ran out of recursion depth"
        except Exception as err:  # the second opinion failing must not cost the first
            why_stopped = f"{INTERNAL_ERROR} ({type(err).__name__}: {err}); please report it"
    return _combine(grads, kinked, local, adjoint, failures, set(wanted), no_adjoint, why_stopped)


def _combine(
    grads: Sequence[float | None],
    kinked: Sequence[bool],
    local: _Local,
    adjoint: dict[int, NodeCheck],
    failures: dict[int, str],
    wanted: set[int],
    no_adjoint: str,
    why_stopped: str,
) -> CheckOutcome:
    """Each node's best check: adjoint where it ran, else local, else the reason."""
    results: list[NodeCheck | None] = [None] * len(grads)
    shared: dict[tuple[str, str], NodeCheck] = {}  # verdicts without a number, made once
    for i, grad in enumerate(grads):
        bad_value = local.bad_values.get(i)
        if grad is None:
            if bad_value:  # a gate computes a wrong value: say so even without a gradient
                results[i] = NodeCheck(None, "mismatch", bad_value, "local")
            continue
        mine, theirs = local.results.get(i), adjoint.get(i)
        # Why the adjoint check did not give this node a verdict.
        why = failures.get(i) or (why_stopped if i in wanted else no_adjoint)
        if kinked[i]:
            key = ("n/a", "the gradient passes a non-differentiable point")
            results[i] = shared.get(key) or shared.setdefault(key, NodeCheck(None, *key))
        elif bad_value:
            results[i] = NodeCheck(None, "mismatch", bad_value, "local")
        elif theirs is not None:
            results[i] = _reconcile(theirs, mine, grad, bool(local.bad_values))
        elif mine is not None:
            reason = mine.reason or f"checked gate by gate: {why}"
            results[i] = NodeCheck(mine.sympy_grad, mine.verdict, reason, "local")
        else:
            # A gate the local check cannot evaluate is why it gave no verdict here.
            unsupported = local.unsupported.get(i)
            key = ("not checked", unsupported or failures.get(i) or why_stopped or why)
            results[i] = shared.get(key) or shared.setdefault(key, NodeCheck(None, *key))
    return _summarise(tuple(results), "all nodes")


def _reconcile(
    theirs: NodeCheck, mine: NodeCheck | None, grad: float, bad_values: bool
) -> NodeCheck:
    """The adjoint verdict, unless SymPy's whole derivative is undefined at the point
    and the gate-by-gate check agrees, or float rounding in the forward values explains it."""
    if (
        theirs.verdict == "n/a"
        and theirs.sympy_grad is not None
        and math.isnan(theirs.sympy_grad)
        and mine is not None
        and mine.verdict == "ok"
    ):
        # sqrt(Max(x, 0)) at x = -1: SymPy's formula has 0 * oo in it; gate by gate,
        # the gradient stops at the flat relu (exactly 0).
        reason = "checked gate by gate: SymPy's derivative of the whole program is nan here"
        return NodeCheck(mine.sympy_grad, "ok", reason, "local")
    if theirs.verdict != "mismatch" or mine is None or mine.verdict == "mismatch" or bad_values:
        return theirs
    # Every gate's value and local derivative agree with SymPy at the computed
    # values, and so does the chain rule within its rounding bound: exact
    # arithmetic differs only because floats round (e.g. (x + 1e16) - 1e16).
    exact = theirs.sympy_grad
    # A finite exact number can lie past the float range (a product of 1e308s).
    shown = repr(exact) if exact is None or math.isfinite(exact) else "a number past 1e308"
    return NodeCheck(
        exact,
        "n/a",
        f"ill-conditioned: in exact arithmetic SymPy gives {shown}; float rounding "
        f"explains the difference from {grad!r} (gate by gate, at the computed values, "
        "SymPy agrees within rounding)",
        "adjoint",
    )


def _summarise(results: tuple[NodeCheck | None, ...], scope: str) -> CheckOutcome:
    counts: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for r in results:
        if r is not None:
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
            if r.kind is not None:
                kinds[r.kind] = kinds.get(r.kind, 0) + 1
    parts = [f"{n:,} {verdict}" for verdict, n in sorted(counts.items())]
    message = ", ".join(parts) if parts else "no gradients to check"
    if kinds.get("local"):
        message += (
            f" ({kinds.get('adjoint', 0):,} by SymPy's derivative of the whole program, "
            f"{kinds['local']:,} gate by gate)"
        )
    if counts.get("mismatch"):
        status = "mismatch"
    elif counts.get("not checked"):
        status = "partial" if counts.get("ok") or counts.get("n/a") else "not checked"
    else:
        status = "ok"
    if status == "not checked":
        scope = "none"
    return CheckOutcome(results, status, scope, message)
