"""Many points at once: the forward and backward passes over numpy arrays.

One more interpreter of the same graph and the same gate rules. The forward
values come from `NUMPY_FORWARDS`, each gate's forward on float64 arrays (the
same formulas as the gate table's `forward`, numpy's functions in place of
`math`'s); the backward pass calls each gate's `vjp` rule from the table with
`NumpyArithmetic` as its `L`, so no derivative is written a second time.

A point fails where the scalar engine would raise: a forward value that is
not finite (numpy gives inf or nan where `math` raises). Those rows, and only
those, are computed again by the scalar engine (`engine/passes.py`), which
gives the same error message as `backprop eval --at` at that point; a row the
scalar engine computes after all (a sum of values that overflowed) takes its
numbers. Every other row keeps numpy's numbers: within a few units in the last
place of the scalar engine's (numpy's tanh and sinh differ from `math`'s by up
to 3 ulps).

Heavy imports (numpy) happen only here, and this module is imported only for
many points: `backprop eval --at` never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from backprop.engine.api import list_inputs, resolve_point
from backprop.engine.build import build_graph
from backprop.engine.errors import InputError
from backprop.engine.gates import GATES, _erf_slope
from backprop.engine.graph import Graph, Node
from backprop.engine.passes import backward, depends_on_inputs, forward, live_nodes
from backprop.parser import BackpropError, Span, name_list, parse
from backprop.parser.parse import cycle_collector_paused

CHUNK = 1 << 15  # rows evaluated together: the arrays of one chunk stay in the CPU's cache
# A big program gets fewer rows a chunk: its values and gradients, one array per node,
# hold at most about this many floats at once (64 MB each), whatever the program's size.
CHUNK_FLOATS = 1 << 23

# --- the gates' forwards on arrays -----------------------------------------------------


def _sigmoid(a: Any) -> Any:
    # gates._sigmoid: 1/(1 + e^-a) for a >= 0, e^a/(1 + e^a) below; e = exp(-|a|) is both.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(a: Any) -> Any:
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def _dsigmoid(a: Any) -> Any:
    e = np.exp(-np.abs(a))
    return e / ((1.0 + e) * (1.0 + e))


def _dtanh(a: Any) -> Any:
    e = np.exp(-2.0 * np.abs(a))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _logsumexp(*args: Any) -> Any:
    # gates._logsumexp: max + log1p(the sum of the others' exp(x - max)); the first
    # argument equal to the max is the one left out (its term is exactly 1).
    top = args[0]
    for x in args[1:]:
        top = np.maximum(top, x)
    taken = np.zeros(np.shape(top), dtype=bool)
    rest: Any = 0.0
    for x in args:
        first = ~taken & (x == top)
        taken = taken | first
        rest = rest + np.where(first, 0.0, np.exp(x - top))
    return top + np.log1p(rest)


def _max(*args: Any) -> Any:
    # Python's max keeps the first of equal arguments (it matters for -0.0 and 0.0).
    out = args[0]
    for x in args[1:]:
        out = np.where(x > out, x, out)
    return out


def _min(*args: Any) -> Any:
    out = args[0]
    for x in args[1:]:
        out = np.where(x < out, x, out)
    return out


def _sign(a: Any) -> Any:
    return np.where(a > 0, 1.0, np.where(a < 0, -1.0, 0.0))


def _elementwise(f: Callable[[float], float]) -> Callable[[Any], Any]:
    # numpy has no erf: math's, one element at a time (the same floats as the scalar engine).
    vectorised = np.vectorize(f, otypes=[np.float64])

    def run(a: Any) -> Any:
        return vectorised(a)

    return run


NUMPY_FORWARDS: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "neg": np.negative,
    "pos": np.positive,
    "pow": np.power,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "atan2": np.arctan2,
    "hypot": np.hypot,
    "erf": _elementwise(math.erf),
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": lambda a: np.where(a > 0, a, 0.0),
    "abs": np.fabs,
    "max": _max,
    "min": _min,
    "logsumexp": _logsumexp,
    "dtanh": _dtanh,
    "dsigmoid": _dsigmoid,
    "derf": _elementwise(_erf_slope),
    "where": lambda c, t, f: np.where(c > 0, t, f),
    "sign": _sign,
}
"""Each gate's forward on float64 arrays (IEEE: inf and nan where `math` raises).

A parallel table to the gate table's `forward` column, and checked against it:
tests/test_points.py asserts that every gate has its entry here."""


class _One:
    """The seed gradient, d out / d out = 1, that multiplies nothing: `ONE * x` is x.

    The rules multiply the gradient from above into each local derivative
    (`g * L.div(1.0, b)`); at the output that is a multiplication by 1, a whole
    array pass for nothing. The floats are the same: 1 * x is x exactly.
    """

    __array_ufunc__ = None  # numpy hands `array * ONE` to __rmul__

    def __mul__(self, other: Any) -> Any:
        return other

    __rmul__ = __mul__

    def __neg__(self) -> Any:
        return np.float64(-1.0)

    def __add__(self, other: Any) -> Any:
        return np.add(1.0, _plain(other))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return np.subtract(1.0, _plain(other))

    def __rsub__(self, other: Any) -> Any:
        return np.subtract(_plain(other), 1.0)

    def __truediv__(self, other: Any) -> Any:
        return np.divide(1.0, _plain(other))

    def __rtruediv__(self, other: Any) -> Any:
        return other

    def __float__(self) -> float:
        return 1.0

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        return np.array(1.0, dtype=dtype)


ONE = _One()


def _plain(x: Any) -> Any:
    return np.float64(1.0) if isinstance(x, _One) else x


class NumpyArithmetic:
    """The rules' arithmetic on arrays: one attribute per gate (`L.exp(a)`), as `Arithmetic`."""

    def __init__(self, forwards: Mapping[str, Callable[..., Any]]) -> None:
        for name, f in forwards.items():
            setattr(self, name, f)


ARRAYS = NumpyArithmetic(NUMPY_FORWARDS)


# --- the compiled program ----------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Values and gradients at many points.

    `value` and each `gradients[name]` are float64 arrays of the points' shape.
    `failed` marks the points where the scalar engine reports an error (a domain
    error, an overflow, an input that is not finite); their numbers are nan, and
    `Compiled.error` gives the message. A gradient that is infinite or nan where
    every value is finite is a number (inf, nan), not a failure, as in `eval`.
    """

    value: Any
    gradients: dict[str, Any]
    failed: Any

    def __len__(self) -> int:
        return int(np.size(self.value))


class Compiled:
    """A program parsed and built once, to be evaluated at many points."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.source = graph.source
        self.inputs: tuple[str, ...] = tuple(graph.inputs)
        nodes = graph.nodes
        depends = depends_on_inputs(graph)
        self._depends = depends
        self._live = live_nodes(graph, depends)
        self._forwards = [None if not n.inputs else NUMPY_FORWARDS[n.op] for n in nodes]
        self._rules = [GATES[n.op].vjp if n.inputs else None for n in nodes]
        self._error_cache: dict[tuple[str, ...], BackpropError | None] = {}
        self._watched = _watched(graph)

    def __reduce__(self) -> tuple[Any, tuple[Graph]]:
        # Sent to another process (a dask worker) as its graph; rebuilt there.
        return (Compiled, (self.graph,))

    # -- many points

    def evaluate(self, at: Mapping[str, Any]) -> Any:
        """Value and gradients at every point of `at` (input name -> array or number).

        Arrays broadcast against each other (numbers stand for every point).
        With dask arrays the evaluation is lazy and runs chunk by chunk (see
        `evaluate_dask`). Raises InputError for a missing or unknown name.
        """
        self._check_names(at)
        if any(type(v).__module__.startswith("dask") for v in at.values()):
            return evaluate_dask(self, at)
        arrays = [np.asarray(at[name], dtype=np.float64) for name in self.inputs]
        shape = np.broadcast_shapes(*[a.shape for a in arrays]) if arrays else ()
        flat = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
        n = int(np.prod(shape)) if shape else 1
        value = np.empty(n)
        grads = {name: np.empty(n) for name in self.inputs}
        failed = self.evaluate_rows(flat, n, value, [grads[name] for name in self.inputs])
        if failed.any():
            value[failed] = np.nan
            for arr in grads.values():
                arr[failed] = np.nan
        return Evaluation(
            value.reshape(shape),
            {k: v.reshape(shape) for k, v in grads.items()},
            failed.reshape(shape),
        )

    def _check_names(self, at: Mapping[str, Any]) -> None:
        unknown = [name for name in at if name not in self.graph.inputs]
        if unknown:
            verb = "is not an input" if len(unknown) == 1 else "are not inputs"
            raise InputError(f"{name_list(unknown)} {verb}; {list_inputs(list(self.inputs))}")
        missing = [name for name in self.inputs if name not in at]
        if missing:
            raise InputError(
                f"missing a value for {name_list(missing)}; {list_inputs(list(self.inputs))}"
            )

    def evaluate_block(self, block: Sequence[Any], n: int) -> tuple[Any, list[Any], Any]:
        """One block of rows (one 1-d float64 array per input, in input order): the value,
        the gradients (input order) and which rows failed. Failed rows that the scalar
        engine computes after all get its numbers; the others hold nan."""
        value = np.empty(n)
        out = [np.empty(n) for _ in self.inputs]
        failed = self.evaluate_rows(block, n, value, out)
        return value, out, failed

    def evaluate_rows(self, block: Sequence[Any], n: int, value: Any, out: Sequence[Any]) -> Any:
        """`evaluate_into` a chunk of rows at a time (CHUNK rows, fewer for a big program)."""
        rows = max(1, min(CHUNK, CHUNK_FLOATS // max(1, len(self.graph.nodes))))
        if n <= rows:
            return self.evaluate_into(block, n, value, out)
        failed = np.empty(n, dtype=bool)
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            failed[start:stop] = self.evaluate_into(
                [a[start:stop] for a in block],
                stop - start,
                value[start:stop],
                [arr[start:stop] for arr in out],
            )
        return failed

    def evaluate_into(self, block: Sequence[Any], n: int, value: Any, out: Sequence[Any]) -> Any:
        """`evaluate_block`, writing into `value` and `out` (arrays of n rows); returns
        which rows failed."""
        with np.errstate(all="ignore"):
            values, suspect = self._forward(block)
            grads = self._backward(values)
            value[...] = values[self.graph.output]
            for arr, name in zip(out, self.inputs):
                arr[...] = grads[self.graph.inputs[name]]
            bad = self._bad_rows(values, n) if suspect else None
        if bad is None:
            return np.zeros(n, dtype=bool)
        for row in np.flatnonzero(bad):
            point = {name: float(a[row]) for name, a in zip(self.inputs, block)}
            scalar = self._scalar(point)
            if scalar is None:
                value[row] = np.nan
                for arr in out:
                    arr[row] = np.nan
                continue
            bad[row] = False
            value[row] = scalar[0]
            for arr, g in zip(out, scalar[1]):
                arr[row] = g
        return bad

    def _forward(self, block: Sequence[Any]) -> tuple[list[Any], bool]:
        """Every node's value, and whether some value may be inf or nan: the sum of
        each node's values (one reduction, no new array) is finite when all are."""
        nodes = self.graph.nodes
        values: list[Any] = [None] * len(nodes)
        inputs = dict(zip(self.inputs, block))
        forwards = self._forwards
        watched = self._watched
        total = 0.0
        for i, node in enumerate(nodes):
            ins = node.inputs
            if not ins:
                v = inputs[node.label] if node.op == "var" else np.float64(node.value)
            else:
                f = forwards[i]
                assert f is not None
                if len(ins) == 2:
                    v = f(values[ins[0]], values[ins[1]])
                elif len(ins) == 1:
                    v = f(values[ins[0]])
                else:
                    v = f(*[values[j] for j in ins])
            values[i] = v
            if watched[i]:
                total += float(np.sum(v))
        return values, not math.isfinite(total)

    def _bad_rows(self, values: list[Any], n: int) -> Any:
        """The rows where some value is inf or nan (a suspect block only)."""
        bad = np.zeros(n, dtype=bool)
        for v in values:
            bad |= ~np.isfinite(v)
        return bad

    def _backward(self, values: list[Any]) -> list[Any]:
        nodes = self.graph.nodes
        grads: list[Any] = [None] * len(nodes)
        output = self.graph.output
        if self._depends[output]:
            grads[output] = ONE
        live = self._live
        rules = self._rules
        L = ARRAYS
        for i in range(output, -1, -1):
            ins = nodes[i].inputs
            if not ins or not live[i]:
                continue
            upstream = grads[i]
            if upstream is None:
                continue
            rule = rules[i]
            assert rule is not None
            sent = rule(L, upstream, *[values[j] for j in ins], values[i])
            for j, c in zip(ins, sent):
                if c is not None:
                    before = grads[j]
                    grads[j] = c if before is None else before + c
        return [
            (np.float64(0.0) if g is None else g) if d else None
            for g, d in zip(grads, self._depends)
        ]

    # -- one point, by the scalar engine

    def _scalar(self, point: dict[str, float]) -> tuple[float, list[float]] | None:
        """The scalar engine at one point: (value, gradients), or None if it fails there."""
        error = self.error(point)
        if error is not None:
            return None
        values = forward(self.graph, point)
        grads = backward(self.graph, values)
        out = []
        for name in self.inputs:
            g = grads[self.graph.inputs[name]]
            out.append(0.0 if g is None else g)
        return values[self.graph.output], out

    def error(self, point: Mapping[str, float]) -> BackpropError | None:
        """The error `backprop eval --at` reports at this point, or None."""
        floats = [float(point[name]) for name in self.inputs]
        key = tuple(x.hex() for x in floats)  # -0.0 and 0.0 apart: messages show the sign
        if key in self._error_cache:
            return self._error_cache[key]
        found: BackpropError | None = None
        try:
            forward(self.graph, resolve_point(self.graph, dict(zip(self.inputs, floats))))
        except BackpropError as err:
            found = err
        if len(self._error_cache) < 10_000:
            self._error_cache[key] = found
        return found


# An inf or nan into these gates gives an inf or nan out (inf * 0 is nan, inf - inf is nan).
_PROPAGATE = frozenset({"add", "sub", "mul", "neg", "pos"})


def _watched(graph: Graph) -> list[bool]:
    """The nodes whose values the forward pass sums to find an inf or nan.

    A node read only by gates that pass an inf or nan on (add, sub, mul, neg)
    needs no watching: its inf or nan reaches a watched node. The others (read
    by another gate, which may hide it: exp(-inf) is 0, or by none) are watched.
    """
    nodes = graph.nodes
    watched = [False] * len(nodes)
    read = [False] * len(nodes)
    for node in nodes:
        for j in node.inputs:
            read[j] = True
            if node.op not in _PROPAGATE:
                watched[j] = True
    return [w or not r for w, r in zip(watched, read)]


_MALLOC_TUNED: list[bool] = []


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep up to 64 MB of freed memory instead of giving it back.

    The interpreter allocates and frees a few dozen arrays of one chunk's rows per
    chunk; by default malloc returns the freed top of the heap to the system each
    time (past 128 KB), and every chunk then pays page faults for fresh memory: 5x
    slower on the perceptron. Elsewhere (not glibc) this does nothing.
    """
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED.append(True)
    try:
        import ctypes

        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
        if mallopt is not None:
            mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
            # Setting one threshold stops glibc from raising the other by itself, as it
            # does after the first large free: arrays of up to 32 MB come from the heap.
            mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError, TypeError):
        pass


def compile(source: str) -> Compiled:  # noqa: A001 - the API's name, as re.compile
    """Parse and build `source` once, for `evaluate` at many points."""
    _keep_freed_memory()
    with cycle_collector_paused():
        return Compiled(build_graph(parse(source)))


def from_graph(graph: Graph) -> Compiled:
    """A compiled program from a graph (a derivative's, for higher orders)."""
    _keep_freed_memory()
    return Compiled(graph)


# --- dask: chunk by chunk ----------------------------------------------------------------


def evaluate_dask(compiled: Compiled, at: Mapping[str, Any]) -> Evaluation:
    """`compiled.evaluate` on dask arrays: lazily, one call of the numpy
    interpreter per chunk (`dask.array.map_blocks`). The result's arrays are dask
    arrays; `.compute()` them (or `dask.compute(*...)`) on any scheduler."""
    import dask.array as da

    names = compiled.inputs
    arrays = da.broadcast_arrays(*[da.asarray(at[name], dtype=np.float64) for name in names])
    k = len(names)

    def block(*parts: Any) -> Any:
        shape = parts[0].shape
        flat = [np.ascontiguousarray(p, dtype=np.float64).reshape(-1) for p in parts]
        n = flat[0].size
        out = np.empty((k + 2, n))
        out[k + 1] = compiled.evaluate_rows(flat, n, out[0], [out[1 + m] for m in range(k)])
        return out.reshape((k + 2, *shape))

    if not arrays:
        raise InputError("the program has no inputs: give it arrays to evaluate on")
    stacked = da.map_blocks(
        block,
        *arrays,
        new_axis=0,
        chunks=((k + 2,), *arrays[0].chunks),
        dtype=np.float64,
        meta=np.empty((0,) * (arrays[0].ndim + 1)),
    )
    failed = stacked[k + 1] != 0
    value = da.where(failed, np.nan, stacked[0])
    grads = {name: da.where(failed, np.nan, stacked[1 + m]) for m, name in enumerate(names)}
    return Evaluation(value, grads, failed)


# --- derivatives as graphs, for plots of higher orders -------------------------------------


def derivative_graph(graph: Graph, wrt: str) -> Graph:
    """A graph whose output is d output / d `wrt`: the reverse-mode transform's
    derived graph (engine/derive.py), cut at that node, with the same inputs."""
    from backprop.engine.derive import reverse

    derived = reverse(graph)
    target = derived.gradients[wrt]
    needed = [False] * len(derived.ops)
    needed[target] = True
    for i in range(target, -1, -1):
        if needed[i]:
            for j in derived.inputs[i]:
                needed[j] = True
    for i in graph.inputs.values():
        needed[i] = True  # keep every input, even one the derivative no longer reads
    new_id: dict[int, int] = {}
    nodes: list[Node] = []
    empty = Span(0, 0)
    for i, op in enumerate(derived.ops):
        if not needed[i]:
            continue
        new_id[i] = len(nodes)
        span = graph.nodes[i].span if i < derived.original else empty
        ins = tuple(new_id[j] for j in derived.inputs[i])
        nodes.append(Node(len(nodes), op, ins, span, derived.labels[i], derived.values[i]))
    inputs = {name: new_id[i] for name, i in graph.inputs.items()}
    return Graph(tuple(nodes), new_id[target], inputs, graph.source)
