"""The walk-through as data: each gate's forward step and backward step, seed-style.

`explain(result)` turns an evaluated program into the steps a learner reads in
the seed's perceptron: the forward pass gate by gate, then the backward pass
from the output, where each gate takes the gradient from above (`upstream`),
multiplies it by its local derivative and sends the product to each input; a
node used more than once (a fan-out) adds up what it receives.

Gates are named the way the seed names them (`gate_view`): a gate with one
constant operand is named after it (`+1`, `*-1`, `1/x`, `^2`), the others by
their role (`add`, `multiply`, `exp`, `max`). Formulas are templates whose
placeholders (`{x}`, `{a}`, `{b}`, `{c}` ...) stand for the gate's inputs:
`symbolic` writes them with the operands' own names (`-1/h^2` for an input or
assigned name h, `-1/[13]^2` for an unnamed gate), `worked` with the cached
numbers (`-1/1.368^2`). The placeholder letters never reach the reader: a
program's own `x` or `a` cannot be mistaken for them. Templates are written
in the language itself (`^`, `log`), so a learner can type one back in, and a
test evaluates them.

The backward steps are read from the backward pass's own trace
(`evaluate(..., trace=True)`), never recomputed: at a flat gate, a kink or a
fan-out the narration is the engine's arithmetic, bit for bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backprop.engine.api import NodeResult, Result, evaluate
from backprop.engine.gates import GATES, Gate


@dataclass(frozen=True)
class Formula:
    """A gate's forward template and one local-derivative template per input."""

    forward: str
    local: tuple[str, ...]


# Unary gates read `{x}`, binary ones `{a}` and `{b}`. Variadic max/min are built
# by `_extreme`, logsumexp by `_softmax`. The numbers these templates produce are
# the engine's (gates.py): a template is the words, never the arithmetic.
FORMULAS: dict[str, Formula] = {
    "add": Formula("{a} + {b}", ("1", "1")),
    "sub": Formula("{a} - {b}", ("1", "-1")),
    "mul": Formula("{a} * {b}", ("{b}", "{a}")),
    "div": Formula("{a} / {b}", ("1/{b}", "-{a}/{b}^2")),
    "neg": Formula("-{x}", ("-1",)),
    "pos": Formula("+{x}", ("1",)),
    "pow": Formula("{a}^{b}", ("{b}*{a}^({b} - 1)", "{a}^{b}*log({a})")),
    "exp": Formula("exp({x})", ("exp({x})",)),
    "log": Formula("log({x})", ("1/{x}",)),
    "log1p": Formula("log1p({x})", ("1/(1 + {x})",)),
    "expm1": Formula("expm1({x})", ("exp({x})",)),
    "log2": Formula("log2({x})", ("1/({x}*log(2))",)),
    "log10": Formula("log10({x})", ("1/({x}*log(10))",)),
    "sqrt": Formula("sqrt({x})", ("1/(2*sqrt({x}))",)),
    "sin": Formula("sin({x})", ("cos({x})",)),
    "cos": Formula("cos({x})", ("-sin({x})",)),
    "tan": Formula("tan({x})", ("1 + tan({x})^2",)),
    "asin": Formula("asin({x})", ("1/sqrt(1 - {x}^2)",)),
    "acos": Formula("acos({x})", ("-1/sqrt(1 - {x}^2)",)),
    "atan": Formula("atan({x})", ("1/(1 + {x}^2)",)),
    "atan2": Formula("atan2({a}, {b})", ("{b}/({a}^2 + {b}^2)", "-{a}/({a}^2 + {b}^2)")),
    "hypot": Formula("hypot({a}, {b})", ("{a}/hypot({a}, {b})", "{b}/hypot({a}, {b})")),
    "erf": Formula("erf({x})", ("2/sqrt(pi)*exp(-{x}^2)",)),
    "sinh": Formula("sinh({x})", ("cosh({x})",)),
    "cosh": Formula("cosh({x})", ("sinh({x})",)),
    "tanh": Formula("tanh({x})", ("1 - tanh({x})^2",)),
    "sigmoid": Formula("sigmoid({x})", ("sigmoid({x})*(1 - sigmoid({x}))",)),
    "softplus": Formula("softplus({x})", ("sigmoid({x})",)),
    "relu": Formula("relu({x})", ("1 if {x} > 0, else 0",)),
    "abs": Formula("abs({x})", ("sign({x})",)),
    "max": Formula("max(...)", ()),
    "min": Formula("min(...)", ()),
    "logsumexp": Formula("logsumexp(...)", ()),
    "dtanh": Formula("dtanh({x})", ("-2*tanh({x})*dtanh({x})",)),
    "dsigmoid": Formula("dsigmoid({x})", ("dsigmoid({x})*(1 - 2*sigmoid({x}))",)),
    "derf": Formula("derf({x})", ("-2*{x}*derf({x})",)),
    "where": Formula("where({a}, {b}, {c})", ("0", "1 if {a} > 0, else 0", "0 if {a} > 0, else 1")),
    "sign": Formula("sign({x})", ("0",)),
}  # fmt: skip

# The gate's role in the backward pass, in one phrase (the seed: "the sum node
# will distribute the gradients").
HINTS: dict[str, str] = {
    "add": "an add gate passes the gradient unchanged to each input",
    "sub": "a subtract gate passes the gradient to its left input, and its negative to the right",
    "mul": "a multiply gate sends each input the other input times the gradient",
    "neg": "negation flips the sign of the gradient",
    "pos": "a unary plus passes the gradient unchanged",
    "relu": "relu passes the gradient where its input is positive",
    "max": "a max gate routes the whole gradient to its largest input",
    "min": "a min gate routes the whole gradient to its smallest input",
    "logsumexp": "a logsumexp gate shares the gradient by the softmax weights, which sum to 1",
}

# Formulas that are not expressions of the language (a test evaluates the others
# against SymPy's derivative; sign's is 0 away from 0, which SymPy writes as a
# DiracDelta it cannot evaluate).
NOT_IN_LANGUAGE = {"relu", "abs", "max", "min", "where", "sign", "logsumexp"}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SIMPLE_CONSTANT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*)"
)
SHORT_CONSTANT = 12  # a longer constant operand keeps the generic gate name
SHORT_OPERAND = 10  # a longer unnamed gate operand is called by its id, [7]
_ID = re.compile(r"\[[0-9]+\]")


def _safe_before(template: str, start: int) -> bool:
    return start == 0 or template.endswith(("(", ", ", "if "), 0, start)


def is_unit(word: str) -> bool:
    """A word that needs no parentheses next to an operator: a name, a number, [7], f(...)."""
    if _SIMPLE_CONSTANT.fullmatch(word) or _ID.fullmatch(word):
        return True
    opening = word.find("(")
    if (
        opening < 0
        or not word.endswith(")")
        or not _SIMPLE_CONSTANT.fullmatch(word[:opening] or "a")
    ):
        return False
    depth = 0
    for k in range(opening, len(word)):
        depth += {"(": 1, ")": -1}.get(word[k], 0)
        if depth == 0:
            return k == len(word) - 1  # the first parenthesis closes at the very end
    return False


def fill(template: str, words: Mapping[str, str]) -> str:
    """Replace each `{name}` with `words[name]`; a negative or compound one gets parentheses.

    `{a} * {b}` with a = -3, b = -2 reads `-3 * (-2)`; `exp({x})` reads `exp(-1)`;
    `-1/{x}^2` with x = `w*x` reads `-1/(w*x)^2`, `exp({x})` reads `exp(w*x)`.
    """

    def replace(match: re.Match[str]) -> str:
        word = words[match.group(1)]
        after = template[match.end() :]
        if word.startswith("-"):
            if _safe_before(template, match.start()) and not after.startswith("^"):
                return word
            return f"({word})"
        if is_unit(word):
            return word
        enclosed = template.endswith(("(", ", "), 0, match.start())
        if enclosed and after.startswith((")", ",")):
            return word
        return f"({word})"

    return _PLACEHOLDER.sub(replace, template)


def placeholders(template: str) -> list[str]:
    """The names a template reads, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(template)))


@dataclass(frozen=True)
class Operand:
    """One input of a gate: its placeholder, node id, value, and what the reader calls it."""

    var: str
    node: int
    value: float
    name: str  # the input's or assigned name, a short sub-expression, or [id]


@dataclass(frozen=True)
class GateView:
    """A gate as the walk-through names it.

    `vars[k]` is the placeholder of input k; a constant operand that names the
    gate (the 1 of `+1`) has its text in `symbols`, and `local[k]` is None for
    it (a constant gets no gradient).
    """

    name: str
    vars: tuple[str, ...]
    symbols: dict[str, str]
    forward: str
    local: tuple[str | None, ...]
    hint: str


def _extreme(op: str, count: int) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    names = ("a", "b") if count == 2 else tuple(f"a{k + 1}" for k in range(count))
    word = "largest" if op == "max" else "smallest"
    forward = f"{op}(" + ", ".join(f"{{{n}}}" for n in names) + ")"
    # Worded, not worked: "1 if 3 is the largest" would read oddly for a loser or a
    # tie (the tie's 1/k is the engine's kink note); the cached inputs show the values.
    local = tuple(f"1 if {{{n}}} is the {word}, else 0" for n in names)
    return names, forward, local


def _softmax(count: int) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    names = ("a", "b") if count == 2 else tuple(f"a{k + 1}" for k in range(count))
    forward = "logsumexp(" + ", ".join(f"{{{n}}}" for n in names) + ")"
    # Each input's softmax weight, written in the language: exp(a - logsumexp(a, b)).
    return names, forward, tuple(f"exp({{{n}}} - {forward})" for n in names)


def _short(x: float) -> str:
    """A constant's number as a learner would write it: 2 rather than 2.0."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def constant_symbol(text: str, op: str) -> str | None:
    """How a constant operand is written in a gate's name, or None to keep the name generic."""
    if op == "const" or _SIMPLE_CONSTANT.fullmatch(text):
        return text
    if len(text) <= SHORT_CONSTANT and "…" not in text:
        return f"({text})"
    return None


def _wrap(symbol: str) -> str:
    return f"({symbol})" if symbol.startswith(("-", "+")) else symbol


def gate_view(
    op: str, operands: Sequence[tuple[str, str, bool]], values: Sequence[float] | None = None
) -> GateView:
    """Name a gate the seed's way from its operands' (op, text, is_constant).

    `values` are the operands' values, needed only for `^c` (to write c - 1).
    """
    label = GATES[op].label if op in GATES else op
    formula = FORMULAS[op]
    if op == "logsumexp":
        names, forward, weights = _softmax(len(operands))
        return GateView(label, names, {}, forward, weights, HINTS.get(op, ""))
    if op in ("max", "min"):
        names, forward, extreme = _extreme(op, len(operands))
        hint = HINTS.get(op, "")
        tied = values.count(max(values) if op == "max" else min(values)) if values else 1
        if tied > 1:
            # PyTorch's rule at a tie: the winners share the gradient (1/k each).
            word = "largest" if op == "max" else "smallest"
            extreme = tuple(f"1/{tied} if {{{n}}} ties for the {word}, else 0" for n in names)
            hint = f"a {op} gate shares the gradient evenly between the inputs tied for the {word}"
        return GateView(op, names, {}, forward, extreme, hint)
    names = ("x",) if len(operands) == 1 else ("a", "b", "c")[: len(operands)]
    generic = GateView(label, names, {}, formula.forward, formula.local, HINTS.get(op, ""))
    if len(operands) != 2:
        return generic
    constant = [k for k, (_, _, is_constant) in enumerate(operands) if is_constant]
    if len(constant) != 1:
        return generic
    (p,) = constant
    q = 1 - p
    symbol = constant_symbol(operands[p][1], operands[p][0])
    if symbol is None:
        return generic
    # Rename: the variable operand becomes x, the constant becomes c.
    rename = {names[q]: "{x}", names[p]: "{c}"}

    def renamed(template: str) -> str:
        return _PLACEHOLDER.sub(lambda m: rename[m.group(1)], template)

    vars_ = ("c", "x") if p == 0 else ("x", "c")
    symbols = {"c": symbol}
    local: list[str | None] = [None, None]
    local[q] = renamed(formula.local[q])
    name, hint = label, HINTS.get(op, "")
    c = _wrap(symbol)
    if op == "add":
        name, hint = f"+{c}", "adding a constant does not change the gradient"
    elif op == "sub" and p == 1:
        name, hint = f"-{c}", "subtracting a constant does not change the gradient"
    elif op == "sub":
        name, hint = f"{symbol}-x", "subtracting from a constant flips the sign of the gradient"
    elif op == "mul":
        name, hint = f"*{symbol}", "multiplying by a constant scales the gradient by it"
    elif op == "div" and p == 1:
        name, hint = f"/{symbol}", "dividing by a constant scales the gradient by its inverse"
    elif op == "div":
        name = f"{symbol}/x"
    elif op == "pow" and p == 1:
        name = f"^{c}"  # not `x^2`: the operand is not called x
        if values is not None:
            # PyTorch's pow_backward: c * x^(c-1); written out, c - 1 is a number.
            less = _short(values[p] - 1.0)
            symbols["c1"] = less
            local[q] = "{c}*{x}" if less == "1" else "{c}*{x}^{c1}"
    elif op == "pow":
        name = f"{c}^x"
    return GateView(name, vars_, symbols, renamed(formula.forward), tuple(local), hint)


# --- the steps ----------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A gradient received from gate `source` through its input `var` (called `name`)."""

    source: int
    var: str
    grad: float
    name: str


@dataclass(frozen=True)
class Send:
    """What a gate sends to one input: local derivative times upstream gradient.

    `flat`: the gate is flat in this input here and the upstream gradient is
    inf or nan, so the backward pass sent nothing (grad 0, not local * upstream).
    """

    to: int
    var: str
    formula: str  # template of the local derivative
    local: float
    upstream: float
    grad: float  # local * upstream, as the backward pass added it
    name: str  # what the reader calls the input
    flat: bool = False


@dataclass(frozen=True)
class ForwardStep:
    """One node of the forward pass: a gate computes its value from its operands."""

    id: int
    op: str
    gate: str  # "input", "constant", or the seed-style gate name
    text: str
    inputs: tuple[int, ...]
    formula: str  # template; "" for inputs and constants
    operands: tuple[Operand, ...]
    symbols: dict[str, str]
    value: float
    names: dict[str, str]  # placeholder -> what `symbolic` writes (constants as in symbols)
    name: str = ""  # the name the program assigned this node, if any


@dataclass(frozen=True)
class BackwardStep:
    """One gate of the backward pass, from the output towards the inputs."""

    step: int
    id: int
    op: str
    gate: str
    text: str
    hint: str
    upstream: float
    parts: tuple[Part, ...]  # what the upstream gradient adds up from (more than one: fan-out)
    cached: tuple[Operand, ...]  # the inputs the local derivatives read
    symbols: dict[str, str]
    sends: tuple[Send, ...]
    notes: tuple[str, ...]
    names: dict[str, str]  # placeholder -> what `symbolic` writes
    name: str = ""  # the name the program assigned this node, if any


@dataclass(frozen=True)
class InputGradient:
    """The gradient an input ends with, and the parts it adds up from."""

    name: str
    id: int
    grad: float | None
    parts: tuple[Part, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """The walk-through of one evaluated program."""

    source: str
    at: dict[str, float]
    value: float
    output: int
    forward: tuple[ForwardStep, ...]
    backward: tuple[BackwardStep, ...]
    inputs: tuple[InputGradient, ...]
    notes: tuple[tuple[int, str, str], ...]  # (node id, text, note) in node order
    digits: int | None = None  # worked in N digits: the numbers are mpmath's


def symbolic(template: str, symbols: Mapping[str, str]) -> str:
    """A template with the inputs' names and constants as written: `-1/h^2`.

    Pass a step's `names`; a placeholder missing from it is written as itself.
    """
    words = {name: symbols.get(name, name) for name in placeholders(template)}
    return fill(template, words)


def worked(
    template: str,
    operands: Sequence[Operand],
    symbols: Mapping[str, str],
    number: Callable[[float], str],
) -> str:
    """A template with the cached numbers written in: `-1/1.368^2`."""
    words = dict(symbols)
    for operand in operands:
        words.setdefault(operand.var, number(operand.value))
    return fill(template, words)


def _view(
    nodes: Sequence[NodeResult], node: NodeResult, constant: Sequence[bool], values: Sequence[Any]
) -> GateView:
    operands = [(nodes[j].op, nodes[j].text, constant[j]) for j in node.inputs]
    return gate_view(node.op, operands, [values[j] for j in node.inputs])


def operand_name(node: int, text: str, name: str = "", leaf: bool = False) -> str:
    """What the walk-through calls a node read by a gate: its name, short text, or [id]."""
    if name:
        return name
    if leaf or (len(text) <= SHORT_OPERAND and "…" not in text and "#" not in text):
        return text  # an input's name, a constant as written, a short sub-expression
    return f"[{node}]"


def _names(nodes: Sequence[NodeResult], node: NodeResult, view: GateView) -> dict[str, str]:
    names = dict(view.symbols)
    for var, j in zip(view.vars, node.inputs):
        n = nodes[j]
        names.setdefault(var, operand_name(n.id, n.text, n.name, not n.inputs))
    return names


def explain(result: Result, gates: Mapping[str, Gate] = GATES) -> Explanation:
    """The forward and backward steps of an evaluated program (no recursion, linear).

    The backward steps are the backward pass's trace; a result evaluated
    without one is evaluated again with it. A result evaluated in N digits
    (`digits`) is explained in N digits: its numbers are mpmath's.
    """
    if result.trace is None:
        result = evaluate(
            result.source, result.at, check=False, gates=gates, trace=True, digits=result.digits
        )
    assert result.trace is not None
    nodes = result.nodes
    if result.exact is not None:
        value_of, grad_of = list(result.exact.values), list(result.exact.grads)
    else:
        value_of, grad_of = [n.value for n in nodes], [n.grad for n in nodes]
    constant = [node.grad is None for node in nodes]
    views: list[GateView | None] = [
        _view(nodes, node, constant, value_of) if node.inputs else None for node in nodes
    ]
    names = [_names(nodes, node, view) if view else {} for node, view in zip(nodes, views)]

    # 1. Forward: every node in evaluation order.
    forward = []
    for node, view in zip(nodes, views):
        if view is None:
            gate = "input" if node.op == "var" else "constant"
            forward.append(
                ForwardStep(
                    node.id,
                    node.op,
                    gate,
                    node.text,
                    (),
                    "",
                    (),
                    {},
                    value_of[node.id],
                    {},
                    node.name,
                )
            )
            continue
        words = names[node.id]
        operands = tuple(
            Operand(var, j, value_of[j], words[var])
            for var, j in zip(view.vars, node.inputs)
            if var not in view.symbols
        )
        forward.append(
            ForwardStep(
                node.id,
                node.op,
                view.name,
                node.text,
                node.inputs,
                view.forward,
                operands,
                view.symbols,
                value_of[node.id],
                words,
                node.name,
            )
        )

    # 2. Backward: the backward pass's own visits, output first. Where it sent
    #    nothing (a flat gate under an inf or nan gradient) the step says so.
    parts: list[list[Part]] = [[] for _ in nodes]
    backward: list[BackwardStep] = []
    for visit in result.trace:
        i = visit.node
        node, view, words = nodes[i], views[i], names[i]
        assert view is not None
        upstream = visit.upstream
        sends = []
        for k, j in enumerate(node.inputs):
            template = view.local[k]
            if constant[j] or template is None:
                continue
            sent = visit.sent[k]
            grad = 0.0 if sent is None else sent
            var = view.vars[k]
            parts[j].append(Part(i, var, grad, words[var]))
            sends.append(
                Send(j, var, template, visit.local[k], upstream, grad, words[var], sent is None)
            )
        notes = list(node.notes)
        for send in sends:
            # Strict JSON writes these as null: say what they are. (A flat send
            # is 0, not local * upstream: its `flat` says so.)
            if send.flat:
                continue
            if not math.isfinite(send.local):
                wrt = send.name if is_unit(send.name) else f"({send.name})"
                notes.append(f"the local derivative d/d{wrt} is {nonfinite_word(send.local)}")
            elif not math.isfinite(send.grad):
                notes.append(f"the gradient sent to {send.name} is {nonfinite_word(send.grad)}")
        read = {name for send in sends for name in placeholders(send.formula)}
        if node.op in ("max", "min"):
            read = set(view.vars)  # the values decide which input is the winner
        cached = tuple(
            Operand(var, j, value_of[j], words[var])
            for var, j in zip(view.vars, node.inputs)
            if var in read and var not in view.symbols
        )
        backward.append(
            BackwardStep(
                len(backward) + 1,
                i,
                node.op,
                view.name,
                node.text,
                view.hint,
                upstream,
                tuple(parts[i]),
                cached,
                view.symbols,
                tuple(sends),
                tuple(notes),
                words,
                node.name,
            )
        )

    inputs = tuple(
        InputGradient(nodes[j].text, j, grad_of[j], tuple(parts[j]), nodes[j].notes)
        for j in (node.id for node in nodes if node.op == "var")
    )
    every_note = tuple((node.id, node.text, note) for node in nodes for note in node.notes)
    return Explanation(
        result.source,
        dict(result.at),
        value_of[result.output],
        result.output,
        tuple(forward),
        tuple(backward),
        inputs,
        every_note,
        result.digits,
    )


def finite(x: float | None) -> float | None:
    """The number for strict JSON: None where it is infinite or undefined."""
    return x if x is not None and math.isfinite(x) else None


def nonfinite_word(x: float) -> str:
    """`+inf`, `-inf` or `nan` for a number that JSON cannot carry."""
    return "nan" if math.isnan(x) else ("+inf" if x > 0 else "-inf")
