"""The float interpreter of the passes, generated from the gate table's rules.

Calling each gate's `forward` and `vjp` through the table costs a few Python
calls per node; for a million-node program that is most of the time. So the
passes run a loop written for the graph at hand: each of the graph's commonest
gates gets a branch whose statements are its rules, traced once with
placeholder values (`g * L.dtanh(a)` becomes `g * _dtanh(va)`), and every
other gate goes through the table as before. The statements are the rules'
own operations in the rules' own order, so the floats are the same bit for
bit; a rule that Python's operators cannot trace (a `math` function, a
comparison) stays a call to the table's function. A replaced table is traced
afresh, so a changed rule is the rule used.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from backprop.engine.gates import GATES, Gate
from backprop.engine.graph import Columns, ops_of

BRANCHES = 8  # gates with a branch of their own; the rest go through the table
_SAMPLE = 4096  # nodes looked at to find the commonest gates,
_RUNS = 16  # in this many runs of consecutive nodes


class _Untraceable(Exception):
    """A rule did something that is not plain arithmetic on its arguments."""


class _Code:
    """A placeholder value while tracing: the text of the expression that computes it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __bool__(self) -> bool:
        raise _Untraceable  # a branch on a value: not traced, called instead

    def _binary(self, op: str, other: Any, swap: bool) -> _Code:
        left, right = (_text(other), self.text) if swap else (self.text, _text(other))
        return _Code(f"({left} {op} {right})")

    def __add__(self, other: Any) -> _Code:
        return self._binary("+", other, False)

    def __radd__(self, other: Any) -> _Code:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> _Code:
        return self._binary("-", other, False)

    def __rsub__(self, other: Any) -> _Code:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> _Code:
        return self._binary("*", other, False)

    def __rmul__(self, other: Any) -> _Code:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> _Code:
        return self._binary("/", other, False)

    def __rtruediv__(self, other: Any) -> _Code:
        return self._binary("/", other, True)

    def __neg__(self) -> _Code:
        return _Code(f"(-{self.text})")

    def __pos__(self) -> _Code:
        return _Code(f"(+{self.text})")


def _text(value: Any) -> str:
    if isinstance(value, _Code):
        return value.text
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"({float(value)!r})"  # repr round-trips a float exactly
    raise _Untraceable


class _Tracer:
    """The rules' arithmetic `L` while tracing: `L.exp(a)` is the table's exp, inlined
    where its forward is plain arithmetic (div's a / b), else a call to it."""

    def __init__(self, gates: Mapping[str, Gate], calls: dict[str, Callable[..., float]]) -> None:
        self._gates = gates
        self._calls = calls
        self.lines: list[str] = []  # a call's result, computed once into a temporary

    def __getattr__(self, name: str) -> Callable[..., _Code]:
        forward = self._gates[name].forward
        return lambda *args: _apply(name, forward, args, self._calls, self.lines)


def _apply(
    name: str,
    forward: Callable[..., Any],
    args: tuple,
    calls: dict[str, Callable[..., float]],
    lines: list[str] | None = None,
) -> _Code:
    try:
        out = forward(*args)
        if isinstance(out, _Code):
            return out
    except Exception:  # noqa: BLE001 - math.exp(placeholder) and the like: call it instead
        pass
    calls[f"_{name}"] = forward
    call = f"_{name}({', '.join(_text(a) for a in args)})"
    if lines is None:
        return _Code(call)
    lines.append(f"t{len(lines)} = {call}")
    return _Code(f"t{len(lines) - 1}")


_ARGS = ("va", "vb", "vc")


def _branch_forward(gate: Gate, calls: dict[str, Callable[..., float]]) -> list[str]:
    args = [_Code(n) for n in _ARGS[: gate.arity]]
    return [f"values[i] = {_apply(gate.name, gate.forward, tuple(args), calls).text}"]


def _branch_backward(gate: Gate, lib: _Tracer) -> list[str]:
    args = [_Code(n) for n in _ARGS[: gate.arity]]
    lib.lines = []
    sent = gate.vjp(lib, _Code("g"), *args, _Code("out"))
    lines = lib.lines + [f"c{k} = {_text(c)}" for k, c in enumerate(sent) if c is not None]
    for k, c in enumerate(sent):  # every contribution computed before any is added
        if c is not None:
            j = "abc"[k]
            lines += [
                f"before = grads[{j}]",
                f"grads[{j}] = c{k} if before is None else before + c{k}",
            ]
    return lines


def _unpack(arity: int, lines: list[str], columns: bool, kind: str) -> str:
    """Unpack the inputs' ids (from the node, or from the columns: the forward loop
    has the first two already), and load the values (and `out`) that the lines read."""
    names = "abc"[:arity]
    code = "\n".join(lines)
    loads = [f"v{n} = values[{n}]" for n in names if re.search(rf"\bv{n}\b", code)]
    if re.search(r"\bout\b", code):
        loads.append("out = values[i]")
    if columns and arity <= 2:
        ids = [] if kind == "forward" else ["a = first[i]", "b = second[i]"][:arity]
    else:
        ids = [f"{', '.join(names)}{',' if arity == 1 else ''} = {'more[i]' if columns else 'ins'}"]
    return "; ".join([*ids, *loads]) or "pass"


def _loop(
    branches: list[tuple[str, list[str]]],
    arity: Mapping[str, int],
    kind: str,
    columns: bool = False,
) -> str:
    """The source of a forward or backward loop with one branch per gate in `branches`,
    over a graph's nodes or its columns (engine/graph.py's Columns)."""
    body: list[str] = []
    for k, (name, lines) in enumerate(branches):
        body.append(f"{'if' if k == 0 else 'elif'} op == {name!r}:")
        body.append(f"    {_unpack(arity[name], lines, columns, kind)}")
        body += [f"    {line}" for line in lines]
    body.append("else:" if branches else "if True:")
    body.append("    " + ("values[i] = generic(i)" if kind == "forward" else "generic(i, g)"))
    indent = " " * (12 if kind == "forward" else 16)
    inner = "\n".join(indent + line for line in body)
    if columns and kind == "forward":
        return f"""
def run(nodes, values, at, generic):
    ops, arity, leaf = nodes.ops, nodes.arity, nodes.leaf
    first, second, more = nodes.first, nodes.second, nodes.more
    i = 0
    try:
        for i, op, k, a, b in zip(range(len(ops)), ops, arity, first, second):
            if not k:
                values[i] = at[leaf[i]] if op == "var" else leaf[i][1]
                continue
{inner}
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        return i, err
    return -1, None
"""
    if columns:
        return f"""
def run(nodes, values, grads, live, start, generic, careful):
    ops, arity = nodes.ops, nodes.arity
    first, second, more = nodes.first, nodes.second, nodes.more
    i = start
    while i >= 0:
        try:
            for i in range(i, -1, -1):
                if not live[i] or not arity[i]:
                    continue
                g = grads[i]
                if g is None:
                    continue
                op = ops[i]
{inner}
            return
        except (ArithmeticError, ValueError):
            careful(i, grads[i])
            i -= 1
"""
    if kind == "forward":
        return f"""
def run(nodes, values, at, generic):
    i = 0
    try:
        for i in range(len(nodes)):
            node = nodes[i]
            ins = node.inputs
            op = node.op
            if not ins:
                values[i] = at[node.label] if op == "var" else node.value
                continue
{inner}
    except (ValueError, ZeroDivisionError, OverflowError) as err:
        return i, err
    return -1, None
"""
    return f"""
def run(nodes, values, grads, live, start, generic, careful):
    i = start
    while i >= 0:
        try:
            for i in range(i, -1, -1):
                node = nodes[i]
                ins = node.inputs
                if not ins or not live[i]:
                    continue
                g = grads[i]
                if g is None:
                    continue
                op = node.op
{inner}
            return
        except (ArithmeticError, ValueError):
            careful(i, grads[i])
            i -= 1
"""


def _compile(
    gates: Mapping[str, Gate], ops: tuple[str, ...], kind: str, columns: bool
) -> Callable[..., Any]:
    calls: dict[str, Callable[..., float]] = {}
    lib = _Tracer(gates, calls)
    branches = []
    for name in ops:
        gate = gates[name]
        try:
            lines = (
                _branch_forward(gate, calls) if kind == "forward" else _branch_backward(gate, lib)
            )
        except _Untraceable:
            continue  # this gate goes through the table
        branches.append((name, lines))
    source = _loop(branches, {name: gates[name].arity for name in ops}, kind, columns)
    namespace: dict[str, Any] = dict(calls)
    exec(compile(source, f"<backprop {kind} loop>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace["run"]


_CACHE: dict[tuple[str, bool, tuple[str, ...], tuple[Gate, ...]], Callable[..., Any]] = {}


def loop(
    nodes: Any, gates: Mapping[str, Gate], kind: str, start: int | None = None
) -> Callable[..., Any]:
    """The generated `kind` ("forward" or "backward") loop for a graph with these nodes."""
    ops = _commonest(nodes, gates, start)
    columns = isinstance(nodes, Columns)
    if gates is not GATES:
        return _compile(gates, ops, kind, columns)  # a replaced table: its own rules, traced now
    # The rows themselves are part of the key: a row replaced in place is traced again.
    key = (kind, columns, ops, tuple(gates[op] for op in ops))
    if key not in _CACHE:
        _CACHE[key] = _compile(gates, ops, kind, columns)
    return _CACHE[key]


# The forward's answer, for the backward on the same nodes. Kept by id, not by
# reference (a million-node graph is not kept alive): a stale hit only changes
# which gates get branches, never a number.
_LAST: dict[tuple[int, int, int], tuple[int | None, tuple[str, ...]]] = {}


def _commonest(nodes: Any, gates: Mapping[str, Gate], start: int | None) -> tuple[str, ...]:
    """The gates of fixed arity that most nodes have, commonest first (from a sample)."""
    key = (id(nodes), len(nodes), id(gates))
    hit = _LAST.get(key)
    if hit is not None and hit[0] in (start, None):
        return hit[1]
    ops = _count(nodes, gates, start)
    _LAST.clear()
    _LAST[key] = (start, ops)
    return ops


def _count(nodes: Any, gates: Mapping[str, Gate], start: int | None) -> tuple[str, ...]:
    end = len(nodes) if start is None else start + 1
    ops = ops_of(nodes)
    if end <= _SAMPLE:
        seen = Counter(itertools.islice(ops, 0, end))
    else:
        # Runs of consecutive nodes spread over the graph: a sample of every k-th
        # node could see only some gates of a repeating pattern (var, var, mul, add).
        width = _SAMPLE // _RUNS
        seen = Counter()
        for k in range(_RUNS):
            first = k * (end - width) // (_RUNS - 1)
            seen.update(itertools.islice(ops, first, first + width))
    return tuple(
        op
        for op, _ in seen.most_common()
        if op in gates and gates[op].arity > 0 and gates[op].arity <= 3
    )[:BRANCHES]
