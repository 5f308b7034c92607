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

Every node first gets the local check (the whole graph, or none of it when
the graph is over LOCAL_NODES_PER_SECOND times the budget: the sweep reaches
the inputs last), then, on graphs small enough, the adjoint check, inputs
first, in the CPU time left; a node keeps the best check it got. Where the
adjoint check disagrees but the local one agrees, the engine did what float64
does and the number is still wrong (float rounding in the forward values, as
in (1 - cos x)/x**2 near 0): verdict "inaccurate", with SymPy's exact number
and the relative error in the reason. So is an infinite gradient whose exact
value is finite (an overflow). What the budget does not reach is "not
checked" with the reason; never a crash and never a mismatch.
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

from backprop.engine.api import METHODS, VERDICTS
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
# The local check's work unit: nodes with a gradient per second of budget. It
# does about 40,000 a second on a 2020s laptop core; the margin is for slower
# machines and a busy one, where the clock still has the last word.
LOCAL_NODES_PER_SECOND = 20_000
MAX_SECONDS = 86_400.0  # a day: the interval timer cannot hold much more
PRECISION_BITS = 113  # the local check's arithmetic: quadruple precision
INTERNAL_ERROR = "internal error in the cross-check"


@dataclass(frozen=True)
class NodeCheck:
    """SymPy's gradient for one node, the verdict, and the kind of check that gave it.

    verdict: "ok", "mismatch" (a wrong rule or backward pass), "inaccurate"
    (what float64 arithmetic gives, but the exact gradient differs: float
    rounding, or an overflow), "n/a" (a non-differentiable point, a
    non-finite gradient, or a difference that float rounding may explain
    where no exact value is known: not comparable), "not checked" (with the
    reason). kind: "adjoint", "local", or None where nothing was compared.
    """

    sympy_grad: float | None
    verdict: str
    reason: str = ""
    kind: str | None = None
    relative_error: float | None = None  # |ours - exact| / |exact| for "inaccurate"
    exact: str = ""  # the adjoint check's exact value, in full, past the float range too


@dataclass(frozen=True)
class CheckOutcome:
    """Per-node verdicts (None where a node has no gradient) and a summary."""

    nodes: tuple[NodeCheck | None, ...]
    status: str  # "mismatch", "inaccurate", "partial", "not checked", "n/a", "ok"
    scope: str  # "all nodes", "none"
    message: str
    counts: dict[str, int]  # verdict -> nodes
    methods: dict[str, int]  # "adjoint" / "local" -> nodes checked that way


class _OutOfTime(Exception):
    pass


# The budget is CPU time: a busy machine (a CI runner sharing its cores) slows
# the check down but does not change which nodes it reaches.
_clock = time.process_time


def status_of(counts: dict[str, int]) -> str:
    """The check's status from its verdict counts: the worst verdict decides
    (mismatch, then inaccurate; some not checked is partial, all is not checked)."""
    checked = sum(counts.values()) - counts["not checked"]
    if counts["mismatch"]:
        return "mismatch"
    if counts["inaccurate"]:
        return "inaccurate"
    if counts["not checked"]:
        return "partial" if checked else "not checked"
    if counts["n/a"]:
        return "n/a"
    return "ok"


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt a long SymPy call after `seconds` of CPU time (main thread, POSIX only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, min(max(seconds, 0.001), MAX_SECONDS))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


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


@dataclass(frozen=True)
class _At:
    """A gate at one point, by SymPy: its value, local derivatives (113 bits, and
    their magnitudes as floats), how far each moves within 4 eps of the inputs,
    and the smallest float over the value."""

    value: Any
    value_float: float
    locals: list[Any]
    locals_float: list[float]
    signed: list[float]
    moved: list[float]
    tiny_over_value: float


_TINY = 5e-324  # the smallest float
_SAFE = 2.2250738585072014e-308  # the smallest normal float


def _up(ctx: Any, x: Any) -> float:
    """|x| as a float, never below it (a float that cannot hold it is inf or the
    smallest float); nan is inf."""
    if ctx.isnan(x):
        return math.inf
    x = abs(x)
    f = float(x)
    return f if f >= x else math.nextafter(f, math.inf)


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
    seen: dict[tuple[Any, ...], _At] = field(default_factory=dict)

    @property
    def tiny(self) -> Any:
        return self.ctx.mpf(_TINY)

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

    def at(self, gate: Gate, args: list[float]) -> _At | None:
        """The gate's value and local derivatives at `args`, and how far each local
        moves when the inputs move by 4 eps; None if the gate's SymPy form is beyond
        the evaluator. Remembered per gate and arguments: a program repeats the
        same small products many times."""
        key = (gate.name, *args)
        found = self.seen.get(key)
        if found is not None:
            return found
        rule = self.rule(gate, len(args))
        if rule is None:
            return None
        ctx = self.ctx
        exact = [ctx.mpf(x) for x in args]
        value = self.real(self.run(rule.value, exact))
        locals_: list[Any] = []
        moved: list[float] = []
        raised: list[Any] = []
        lowered: list[Any] = []
        four_eps = ctx.mpf(4 * EPS)
        for code in rule.locals:
            local = self.real(self.run(code, exact))
            locals_.append(local)
            if code[0] == "num":
                moved.append(0.0)  # a constant does not move
            elif code[0] == "arg":
                moved.append(float(abs(exact[code[1]]) * four_eps))  # it moves with its input
            else:
                if not raised:
                    raised = [x * (1 + four_eps) for x in exact]
                    lowered = [x * (1 - four_eps) for x in exact]
                shift = max(
                    abs(self.real(self.run(code, raised)) - local),
                    abs(self.real(self.run(code, lowered)) - local),
                )
                moved.append(_up(ctx, shift))
        # A value that underflows (1e-300/1e300 is 0.0) is off by up to the smallest
        # float, and a local derivative written with it (-out/b) by that much over it.
        tiny_over_value = _up(ctx, self.tiny / abs(value)) if value and ctx.isfinite(value) else 0.0
        found = _At(
            value,
            float(value) if ctx.isfinite(value) else math.nan,
            locals_,
            [_up(ctx, x) for x in locals_],
            [float(x) if ctx.isfinite(x) else math.nan for x in locals_],
            moved,
            tiny_over_value,
        )
        self.seen[key] = found
        return found

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
    SymPy's gradients are in 113-bit arithmetic, which neither underflows nor
    overflows where floats do. The bound is a float rounded upwards where it
    matters (an overflow only makes it inf), in 113 bits where a tiny local
    derivative meets a real bound. Gate evaluations are remembered per gate
    and arguments.
    """
    ctx = evaluator.ctx
    nodes = graph.nodes
    live = live_nodes(graph, depends_on_inputs(graph))
    uses = [0] * len(nodes)
    for node in nodes:
        if live[node.id]:
            for j in node.inputs:
                uses[j] += 1
    # SymPy's gradients as raw mpmath numbers: the wrapper objects cost more than the sums.
    from mpmath.libmp import finf, fnan, fninf, fone, fzero, mpf_add, mpf_mul, to_float

    prec = ctx.prec
    ref: list[Any] = [fzero] * len(nodes)
    ref[graph.output] = fone
    # The bound is kept in floats where that is safe (a rounding of an upper
    # bound by 1e-16 matters nowhere; an overflow makes it inf, which only
    # makes the check more lenient) and in 113 bits where a float would lose
    # a tiny local derivative against a huge bound.
    bound: list[Any] = [0.0] * len(nodes)
    culprit: list[str] = [""] * len(nodes)  # a wrong local derivative on the way
    blocked: list[str] = [""] * len(nodes)  # a gate on the way the check cannot evaluate

    for i in range(len(nodes) - 1, -1, -1):  # past the output: gradient 0, nothing to pass on
        if not i % 256 and _clock() > deadline:
            raise _OutOfTime  # off the main thread there is no alarm
        grad = grads[i]
        if grad is None:
            continue  # depends on no input: no gradient, no check
        if blocked[i]:
            found.unsupported[i] = blocked[i]  # SymPy's gradient here is incomplete
        else:
            theirs = to_float(ref[i], rnd="n")
            if math.isfinite(theirs) and abs(grad - theirs) <= REL_TOL * abs(theirs) + ABS_TOL:
                found.results[i] = NodeCheck(theirs, "ok", "", "local")  # the common case, fast
            else:
                found.results[i] = _local_verdict(
                    ctx, grad, ctx.make_mpf(ref[i]), bound[i], culprit[i]
                )
        node = nodes[i]
        if not node.inputs or not live[i]:
            continue
        gate = gates[node.op]
        ins = [values[j] for j in node.inputs]
        at = evaluator.at(gate, ins)
        if at is None or blocked[i]:
            why = blocked[i] or f"the gate-by-gate check cannot evaluate {node.op}"
            for j in node.inputs:
                blocked[j] = blocked[j] or why
        if at is None:
            continue
        if not (
            math.isfinite(at.value_float)
            and math.isclose(values[i], at.value_float, rel_tol=REL_TOL, abs_tol=ABS_TOL)
        ):
            found.bad_values[i] = (
                f"the value of {node.op} at node {i} is {_fmt(values[i])}; "
                f"SymPy gives {_fmt(float(at.value))} at the same inputs"
            )
        ours = _our_locals(gate, ins, values[i])
        upstream = abs(grad)
        out = abs(values[i])
        still: tuple[bool, ...] = ()
        if gate.flat and ref[i] in (finf, fninf, fnan):
            # The gate's output stays put in these inputs: an exact zero, not inf * 0.
            still = gate.flat(*ins, values[i])
        for p, j in enumerate(node.inputs):
            if still and still[p]:
                continue
            local = at.locals[p]
            ref[j] = mpf_add(ref[j], mpf_mul(ref[i], local._mpf_, prec, "n"), prec, "n")
            d = abs(at.locals_float[p])
            allowance = 8 * EPS * (d + out) + at.moved[p] + _TINY + d * at.tiny_over_value
            # A product or sum that underflows is off by up to the smallest float.
            rounding = 2 * (uses[j] + 1) * (EPS * upstream * d + _TINY)
            if d < _SAFE and local and bound[i] > _TINY:
                # A local derivative below the float range against a real bound: in 113 bits.
                step = bound[i] * abs(local) + upstream * allowance + rounding
            else:
                step = bound[i] * d + upstream * allowance + rounding
            bound[j] += step
            if bound[j] != bound[j]:
                bound[j] = math.inf
            mine = ours[p] if p < len(ours) else math.nan
            if not culprit[j]:
                culprit[j] = culprit[i]
            # In floats: the tolerance is 1e-9 relative, far above their rounding.
            if (
                not culprit[j]
                and math.isfinite(mine)
                and abs(mine - at.signed[p]) > allowance + REL_TOL * d
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


def _local_verdict(ctx: Any, ours: float, ref: Any, bound: float, culprit: str) -> NodeCheck:
    if isinstance(ref, ctx.mpc):
        ref = ctx.nan  # SymPy's chain rule went complex: no number to compare with
    theirs = float(ref)
    if math.isfinite(theirs) and math.isfinite(ours):
        # In floats: SymPy's gradient rounded to one is off by 1e-16, far below REL_TOL.
        if abs(ours - theirs) <= REL_TOL * abs(theirs) + ABS_TOL:
            return NodeCheck(theirs, "ok", "", "local")
    elif math.isinf(ours) and ctx.isfinite(ref) and ref and (ref < 0) == (ours < 0):
        # SymPy's number is finite (in 113 bits nothing overflows) and ours went to
        # the infinity of its sign on the way: what float64 does, not the gradient.
        if culprit:
            return NodeCheck(None, "mismatch", culprit, "local")
        shown = theirs if math.isfinite(theirs) else None
        reason = f"the gradient overflows float64: gate by gate, SymPy gives {_show(ctx, ref)}"
        return NodeCheck(shown, "inaccurate", reason, "local", math.inf)
    elif not ctx.isfinite(ref) or not math.isfinite(ours):
        verdict = compare(ours, theirs)
        reason = f"the gradient is {ours}; SymPy gives {theirs}" if verdict == "n/a" else ""
        if verdict == "mismatch":
            reason = culprit or f"SymPy's chain rule at the computed values gives {theirs}"
        return NodeCheck(theirs if math.isfinite(theirs) else None, verdict, reason, "local")
    # Compared at 113 bits: SymPy's gradient may lie beyond the float range.
    exact_diff = abs(ctx.mpf(ours) - ref)
    shown = theirs if math.isfinite(theirs) else None
    if exact_diff <= REL_TOL * abs(ref) + ABS_TOL:
        return NodeCheck(shown, "ok", "", "local")
    if exact_diff <= bound:
        # No exact value is known here (SymPy's chain rule ran at our rounded
        # forward values): the float result may be off, or may not.
        return NodeCheck(
            shown,
            "n/a",
            f"ill-conditioned: float rounding can move this gradient by up to "
            f"{ctx.nstr(ctx.mpf(bound), 3)}, more than it differs from SymPy's "
            f"{_show(ctx, ref)} gate by gate; no exact value to compare with",
            "local",
        )
    reason = culprit or f"SymPy's chain rule at the computed values gives {_show(ctx, ref)}"
    return NodeCheck(shown, "mismatch", reason, "local")


def _show(ctx: Any, x: Any) -> str:
    """A 113-bit number as text: a float's repr, or 17 digits past the float range."""
    f = float(x)
    return repr(f) if math.isfinite(f) or not ctx.isfinite(x) else ctx.nstr(x, 17)


def _past_float(exact: Any) -> str:
    """A finite SymPy number beyond the float range, in 17 digits (-1e400: '-1.0e+400')."""
    import mpmath

    ctx = mpmath.MPContext()  # its own: a caller's mpmath.mp.dps does not change the text
    ctx.prec = 60
    return ctx.nstr(ctx.mpf(exact._to_mpmath(60)), 17)


def overflow_reason(exact: str) -> str:
    """Why an infinite float gradient is inaccurate: the exact one is finite."""
    return f"the gradient overflows float64: the exact value is {exact}"


def rounding_reason(exact: str, relative_error: float) -> str:
    """Why a finite float gradient is inaccurate: float rounding lost it."""
    error = (
        f"relative error {relative_error:.2g}"
        if math.isfinite(relative_error)
        else "the exact value is 0"
    )
    return f"float64 rounding loses this gradient: exact value {exact}, {error}"


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
) -> Any:
    """d output / d node k, by SymPy, at the point: a SymPy number (30 digits)."""
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
    return derivative.xreplace(at).evalf(30)


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
        if _clock() > deadline:
            raise _OutOfTime
        try:
            exact = _gradient(sp, graph, expressions, point, values, i, gates)
        except RecursionError:
            failures[i] = "SymPy ran out of recursion depth"
            continue
        except (ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
            failures[i] = f"SymPy failed: {err}"
            continue
        ours = grads[i]
        assert ours is not None
        results[i] = _adjoint_verdict(sp, ours, exact)


def _adjoint_verdict(sp: Any, ours: float, exact: Any) -> NodeCheck:
    """Our gradient against SymPy's exact one (compared before rounding it to a float)."""
    theirs = _to_float(sp, exact)
    finite = bool(exact.is_Number and exact.is_finite)
    shown = repr(theirs) if math.isfinite(theirs) or not finite else _past_float(exact)
    if math.isinf(ours) and finite and not exact.is_zero and bool(exact < 0) == (ours < 0):
        # An infinity where the exact number is finite: 1/x at 1e-200 is -1e400,
        # past float64 (compared before SymPy's number is rounded to -inf), or a
        # product that overflowed on the way back.
        # SymPy's number past the float range is not inf: leave the column blank,
        # the reason shows it.
        number = theirs if math.isfinite(theirs) else None
        reason = overflow_reason(shown)
        return NodeCheck(number, "inaccurate", reason, "adjoint", math.inf, shown)
    verdict = compare(ours, theirs)
    if verdict == "n/a":
        return NodeCheck(
            theirs, verdict, f"the gradient is {ours}; SymPy gives {theirs}", "adjoint"
        )
    if verdict == "ok":
        return NodeCheck(theirs, verdict, "", "adjoint")
    # A mismatch: keep the exact number and how far off we are, in case the
    # gate-by-gate check shows that float rounding explains it (_reconcile).
    if exact.is_zero or not finite or not math.isfinite(ours):
        error = math.inf
    else:
        error = float(abs((sp.Float(ours, 40) - exact) / exact))
    return NodeCheck(theirs, verdict, "", "adjoint", error, shown)


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

    started = _clock()
    # Imported before the alarm is set: an import cut short would leave
    # SymPy half-initialised for the rest of the process.
    import mpmath
    import sympy as sp

    seconds = min(seconds, MAX_SECONDS) if seconds == seconds else 0.0  # nan: no time
    deadline = started + seconds
    # Keep back what putting the verdicts together takes (about a microsecond
    # a node), so that the whole check ends within the budget.
    remaining = deadline - _clock() - min(seconds / 2, 1.5e-6 * len(nodes))
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
    # The budget is spent in work units first: the local check takes on a graph
    # only if its nodes fit LOCAL_NODES_PER_SECOND times the budget, whatever the
    # machine's speed, so that the same command gives the same verdicts. The
    # clock is a safety net on top.
    local_done = False
    if remaining <= 0:
        why_stopped = f"out of time (budget {seconds:g} s)"
    elif len(carriers) > seconds * LOCAL_NODES_PER_SECOND:
        why_stopped = (
            f"out of time (budget {seconds:g} s): the gate-by-gate check is given "
            f"{LOCAL_NODES_PER_SECOND:,} nodes a second and {len(carriers):,} nodes have "
            "a gradient"
        )
    else:
        try:
            with _deadline(remaining):
                _local_pass(evaluator, graph, values, grads, gates, local, deadline)
                local_done = True
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
        if not local_done:
            # A sweep cut short has reached only the nodes near the output, and which
            # ones depends on the machine: keep none of it. (The inputs come last.)
            local = _Local()
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
    and the gate-by-gate check agrees, or the gate-by-gate check shows that float
    arithmetic gives our number (then it is inaccurate, not a mismatch)."""
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
    if theirs.verdict == "inaccurate" and mine is not None and mine.verdict == "mismatch":
        return mine  # the overflow passed a wrong rule on the way: that is the news
    if theirs.verdict != "mismatch" or mine is None or mine.verdict == "mismatch" or bad_values:
        return theirs
    # Every gate's value and local derivative agree with SymPy at the computed
    # values, and so does the chain rule within its rounding bound: exact
    # arithmetic differs only because floats round ((1 - cos x)/x**2 at 1e-5,
    # (x + 1e16) - 1e16). The engine did what float64 does; the number is still wrong.
    error = theirs.relative_error if theirs.relative_error is not None else math.inf
    return NodeCheck(
        theirs.sympy_grad,
        "inaccurate",
        rounding_reason(theirs.exact, error),
        "adjoint",
        error,
        theirs.exact,
    )


def _summarise(results: tuple[NodeCheck | None, ...], scope: str) -> CheckOutcome:
    """The worst verdict that occurred (mismatch, inaccurate, partial, n/a, ok) and the counts."""
    counts = dict.fromkeys(VERDICTS, 0)
    methods = dict.fromkeys(METHODS, 0)
    for r in results:
        if r is not None:
            counts[r.verdict] += 1
            if r.kind is not None:
                methods[r.kind] += 1
    parts = [f"{n:,} {verdict}" for verdict, n in sorted(counts.items()) if n]
    message = ", ".join(parts) if parts else "no gradients to check"
    if methods["local"]:
        message += (
            f" ({methods['adjoint']:,} by SymPy's derivative of the whole program, "
            f"{methods['local']:,} gate by gate)"
        )
    status = status_of(counts)
    if status == "not checked":
        scope = "none"
    return CheckOutcome(results, status, scope, message, counts, methods)
