"""Printers: a derived graph as a program, in backprop's language, Python or LaTeX.

The program in backprop's language reads back to the same graph: one
statement per node that has a name (an assignment's name, an adjoint
`d_NAME`) or is used more than once, everything else written inline with
the fewest parentheses that keep the operator precedence, numbers as written
or as Python's `repr` of the float (which reads back to the same float).
Printing is one loop over the nodes: no recursion, and each statement stays
short (a long inline expression gets a name of its own), so the text is
linear in the graph.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backprop.engine.derive import Derived
from backprop.engine.point import AT_LINE
from backprop.parser.errors import printable
from backprop.parser.lang import CONSTANTS, FUNCTIONS

PLUS, TIMES, PREFIX, POWER, ATOM = 10, 20, 30, 40, 100  # the parser's binding powers
INLINE_LIMIT = 72  # characters: a longer sub-expression becomes a statement of its own


def number(x: float) -> tuple[str, int]:
    """A float as a literal that reads back to the same float, and its binding power."""
    text = repr(x)
    if text.endswith(".0") and "e" not in text:
        text = text[:-2]
    return text, (PREFIX if text.startswith("-") else ATOM)


@dataclass(frozen=True)
class Dialect:
    """How a printer spells gates, names, numbers and statements."""

    expression: Callable[[str, list[str], list[int]], tuple[str, int]]
    assign: str  # "{name} = {expr}"
    spell: Callable[[str], str] = lambda name: name
    constant: Callable[[str], str] = lambda name: name  # pi, e
    number: Callable[[float], tuple[str, int]] = number
    keep_literals: bool = False  # numbers of the program as written


@dataclass
class Program:
    """Statements computing a program's value and the derivatives asked for."""

    lines: list[str]
    output: str  # how the program's own output is spelled
    derivatives: dict[str, str] = field(default_factory=dict)  # input -> its derivative's name
    inputs: dict[str, str] = field(default_factory=dict)  # input -> its spelled name
    unread: list[str] = field(default_factory=list)  # inputs no printed statement reads


class _Names:
    """Fresh names that collide with nothing the program uses."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken) | set(FUNCTIONS) | set(CONSTANTS)
        self.next: dict[str, int] = {}  # the suffix to try next: h_2, h_3, ... in linear time

    def fresh(self, wanted: str) -> str:
        name, k = wanted, self.next.get(wanted, 1)
        while name in self.taken:
            k += 1
            name = f"{wanted}_{k}"
        self.next[wanted] = k
        self.taken.add(name)
        return name


def statements(
    derived: Derived, wrt: Sequence[str], assigned: Mapping[int, str], dialect: Dialect
) -> Program:
    """The statements computing the program and d out/d NAME for each NAME in `wrt`.

    `assigned` names the program's own assigned nodes. The last statement
    defines the derivative for the last name of `wrt`.
    """
    ops, inputs, labels, original = derived.ops, derived.inputs, derived.labels, derived.original
    count = len(ops)

    # 1. What is printed: every node of the program (every input must stay an
    #    input, every statement is evaluated), and the adjoint nodes the wanted
    #    derivatives read.
    printed = [i < original for i in range(count)]
    for wanted in wrt:
        printed[derived.gradients[wanted]] = True
    for i in range(count - 1, original - 1, -1):
        if printed[i]:
            for j in inputs[i]:
                printed[j] = True
    uses = [0] * count
    root = [i < original for i in range(count)]  # a statement of the program: no gate reads it
    for i in range(count):
        if printed[i]:
            for j in inputs[i]:
                uses[j] += 1
                root[j] = root[j] and i >= original

    # 2. Names: inputs keep theirs; an assignment keeps its name unless an
    #    input or an earlier binding has it (a rebinding gets NAME_2); the
    #    adjoint of a named node is d_NAME; other shared values are t1, t2, ...
    input_names = {labels[i] for i in range(original) if ops[i] == "var"}
    names = _Names(input_names | set(assigned.values()))
    name: list[str | None] = [labels[i] if ops[i] == "var" else None for i in range(original)]
    name += [None] * (count - original)
    shadowed = {n for n in assigned.values() if n in CONSTANTS}
    targets = {wanted: names.fresh(f"d_{wanted}") for wanted in wrt}
    bound: set[str] = set()
    for i in sorted(assigned):
        if ops[i] != "var":  # `a = x` leaves the input its own name
            wanted = assigned[i]
            name[i] = names.fresh(wanted) if wanted in input_names | bound else wanted
            bound.add(wanted)
    if name[derived.output] is None:
        name[derived.output] = names.fresh("out")
    for wanted in wrt:
        node = derived.gradients[wanted]
        if node >= original and name[node] is None and ops[node] != "const":
            name[node] = targets[wanted]
    adjoint_of: dict[int, str] = {}
    for i in range(original - 1, -1, -1):
        a = derived.adjoints[i]
        if a is not None and a >= original and ops[i] != "var" and name[i] is not None:
            adjoint_of.setdefault(a, f"d_{name[i]}")

    # 3. One loop: each node's text from its inputs' texts.
    spell = dialect.spell
    text: list[str] = [""] * count
    power: list[int] = [ATOM] * count
    lines: list[str] = []
    temporaries = 0
    for i in range(count):
        if not printed[i]:
            continue
        op = ops[i]
        if op == "var":
            text[i] = spell(labels[i])
            continue
        if op == "const":
            label = labels[i] if i < original else ""
            if label in CONSTANTS and label not in shadowed:
                text[i], power[i] = dialect.constant(label), ATOM
            elif label and label not in CONSTANTS and dialect.keep_literals:
                text[i], power[i] = label, ATOM
            else:
                text[i], power[i] = dialect.number(derived.values[i])
            continue
        args = [text[j] for j in inputs[i]]
        expr, p = dialect.expression(op, args, [power[j] for j in inputs[i]])
        if name[i] is None and (
            i in adjoint_of or uses[i] != 1 or root[i] or len(expr) > INLINE_LIMIT
        ):
            if i in adjoint_of:
                name[i] = names.fresh(adjoint_of[i])
            else:
                temporaries += 1
                name[i] = names.fresh(f"t{temporaries}")
        if name[i] is not None:
            lines.append(dialect.assign.format(name=spell(name[i]), expr=expr))  # type: ignore[arg-type]
            text[i], power[i] = spell(name[i]), ATOM  # type: ignore[arg-type]
        else:
            text[i], power[i] = expr, p

    # 4. The wanted derivatives that have no statement of their own yet.
    for wanted in wrt:
        node = derived.gradients[wanted]
        if name[node] != targets[wanted]:
            lines.append(dialect.assign.format(name=spell(targets[wanted]), expr=text[node]))
    unread = [spell(labels[i]) for i in range(original) if ops[i] == "var" and not uses[i]]
    return Program(
        lines,
        text[derived.output],
        {wanted: spell(targets[wanted]) for wanted in wrt},
        {n: spell(n) for n in input_names},
        unread,
    )


# --- backprop's language ---------------------------------------------------------

_BP_BINARY = {"add": (" + ", PLUS), "sub": (" - ", PLUS), "mul": ("*", TIMES), "div": ("/", TIMES)}
_BP_BINARY["pow"] = ("^", POWER)


def _infix(
    op: str, args: list[str], powers: list[int], table: Mapping[str, tuple[str, int]]
) -> tuple[str, int]:
    symbol, p = table[op]
    left, right = args
    # Left-associative operators need parentheses on a right operand of the same
    # power; the right-associative power on a left one. A signed operand gets them
    # too, for the reader (the grammar would take 2*-x).
    if powers[0] < p or (p == POWER and powers[0] <= p) or powers[0] == PREFIX:
        left = f"({left})"
    if powers[1] <= p or powers[1] == PREFIX:
        right = f"({right})"
    return f"{left}{symbol}{right}", p


def _bp_expression(op: str, args: list[str], powers: list[int]) -> tuple[str, int]:
    if op in _BP_BINARY:
        return _infix(op, args, powers, _BP_BINARY)
    if op in ("neg", "pos"):
        arg = f"({args[0]})" if powers[0] <= PREFIX else args[0]
        return ("-" if op == "neg" else "+") + arg, PREFIX
    return f"{op}({', '.join(args)})", ATOM


BP = Dialect(_bp_expression, "{name} = {expr}", keep_literals=True)


def header(source: str, wrt: Sequence[str], comment: str = "#") -> list[str]:
    """What the printed program is, and the source's `# at:` lines."""
    lines = [line for line in source.splitlines() if line.split("#", 1)[0].strip()]
    first = printable(" ".join(lines[0].split("#", 1)[0].split())) if lines else ""
    what = first if len(lines) == 1 and len(first) <= 72 else "the program"
    out = [f"{comment} The gradient of {what}, written out by backprop grad."]
    if len(wrt) == 1:
        out.append(f"{comment} Its output (the last statement) is d out/d {wrt[0]}.")
    elif wrt:
        out.append(
            f"{comment} d_NAME is d out/d NAME; the output (the last statement) is "
            f"d out/d {wrt[-1]}."
        )
    return out


def to_bp(derived: Derived, wrt: Sequence[str], assigned: Mapping[int, str], source: str) -> str:
    """A program in backprop's language whose output is d out/d (the last of `wrt`)."""
    program = statements(derived, wrt, assigned, BP)
    # An input that no statement reads (the program `x`, or a statement `x;`) is
    # still read, as a statement of its own, so that it stays an input.
    lines = program.unread + program.lines
    if wrt and not lines[-1].startswith(f"{program.derivatives[wrt[-1]]} = "):
        lines.append(program.derivatives[wrt[-1]])  # the output is the last statement
    at_lines = [m.group(0).lstrip("\ufeff") for m in AT_LINE.finditer(source)]
    return "\n".join(header(source, wrt) + at_lines + lines) + "\n"


# --- Python -------------------------------------------------------------------------

# Gates Python's math module has under the same name; the others are helpers
# written into the printed module, as the engine computes them.
_PY_HELPERS = {
    "sigmoid": "def sigmoid(a):\n    if a >= 0:\n        return 1.0 / (1.0 + math.exp(-a))\n"
    "    z = math.exp(a)\n    return z / (1.0 + z)\n",
    "softplus": "def softplus(a):\n    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))\n",
    "relu": "def relu(a):\n    return a if a > 0 else 0.0\n",
    "dtanh": "def dtanh(a):\n    e = math.exp(-2.0 * abs(a))\n"
    "    return 4.0 * e / ((1.0 + e) * (1.0 + e))\n",
    "dsigmoid": "def dsigmoid(a):\n    e = math.exp(-abs(a))\n"
    "    return e / ((1.0 + e) * (1.0 + e))\n",
    "derf": "def derf(a):\n    return 2.0 / math.sqrt(math.pi) * math.exp(-a * a)\n",
    "logsumexp": "def logsumexp(*args):\n    top = max(args)\n"
    "    return top + math.log(math.fsum(math.exp(x - top) for x in args))\n",
    "where": "def where(c, t, f):\n    return t if c > 0 else f\n",
    "sign": "def sign(a):\n    return 1.0 if a > 0 else -1.0 if a < 0 else 0.0\n",
}
_PY_BUILTINS = {"abs": "abs", "max": "max", "min": "min", "pow": "math.pow"}


def _py_expression(op: str, args: list[str], powers: list[int]) -> tuple[str, int]:
    if op in _BP_BINARY and op != "pow":
        return _infix(op, args, powers, _BP_BINARY)
    if op in ("neg", "pos"):
        return _bp_expression(op, args, powers)
    func = _PY_BUILTINS.get(op) or (op if op in _PY_HELPERS else f"math.{op}")
    return f"{func}({', '.join(args)})", ATOM


def _py_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) or name in ("math", "gradient") else name


def _py_number(x: float) -> tuple[str, int]:
    text = repr(x)  # 2.0, not 2: the module computes in floats, as the engine does
    return text, (PREFIX if text.startswith("-") else ATOM)


PYTHON = Dialect(
    _py_expression, "    {name} = {expr}", _py_name, lambda name: f"math.{name}", _py_number
)


def to_python(
    derived: Derived, wrt: Sequence[str], assigned: Mapping[int, str], source: str
) -> str:
    """A self-contained Python module: `gradient(...)` returns the value and the gradient."""
    program = statements(derived, wrt, assigned, PYTHON)
    params = [program.inputs[n] for n in _input_order(derived)]
    clash = sorted({p for p in params if params.count(p) > 1})
    if clash:
        from backprop.parser.errors import BackpropError

        raise BackpropError(
            f"the inputs {', '.join(clash)} would have the same name in Python "
            "(a keyword gets a trailing _): rename one, or use --format bp"
        )
    used = {op for op in derived.ops if op in _PY_HELPERS}
    comment = header(source, wrt)[0]
    out = [comment, "import math", ""]
    for helper in sorted(used):
        out += ["", _PY_HELPERS[helper]]
    grads = ", ".join(f"{n!r}: {program.derivatives[n]}" for n in wrt)
    out += [
        "",
        f"def gradient({', '.join(params)}):",
        '    """The value and the gradient {input: d value/d input} at a point."""',
        *program.lines,
        f"    return {program.output}, {{{grads}}}",
    ]
    return "\n".join(out) + "\n"


def _input_order(derived: Derived) -> list[str]:
    return [derived.labels[i] for i in range(derived.original) if derived.ops[i] == "var"]


# --- LaTeX ----------------------------------------------------------------------------

_TEX_FUNCTIONS = {
    "exp": r"\exp", "log": r"\ln", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
    "asin": r"\arcsin", "acos": r"\arccos", "atan": r"\arctan", "sinh": r"\sinh",
    "cosh": r"\cosh", "tanh": r"\tanh", "sigmoid": r"\sigma", "max": r"\max", "min": r"\min",
}  # fmt: skip


def _tex_expression(op: str, args: list[str], powers: list[int]) -> tuple[str, int]:
    def wrap(k: int, below: int) -> str:
        return rf"\left({args[k]}\right)" if powers[k] <= below else args[k]

    if op in ("add", "sub"):
        right = wrap(1, PLUS) if op == "sub" or powers[1] == PREFIX else args[1]
        return f"{args[0]} {'+' if op == 'add' else '-'} {right}", PLUS
    if op == "mul":
        return rf"{wrap(0, PLUS)} \cdot {wrap(1, PREFIX)}", TIMES
    if op == "div":
        return rf"\frac{{{args[0]}}}{{{args[1]}}}", ATOM
    if op == "pow":
        return f"{{{wrap(0, POWER)}}}^{{{args[1]}}}", POWER
    if op in ("neg", "pos"):
        return ("-" if op == "neg" else "+") + wrap(0, PREFIX), PREFIX
    if op == "sqrt":
        return rf"\sqrt{{{args[0]}}}", ATOM
    if op == "abs":
        return rf"\left|{args[0]}\right|", ATOM
    func = _TEX_FUNCTIONS.get(op, rf"\operatorname{{{op}}}")
    return rf"{func}\left({', '.join(args)}\right)", ATOM


def _tex_name(name: str) -> str:
    if name.startswith("d_") and len(name) > 2:
        return rf"\overline{{{_tex_name(name[2:])}}}"
    base, _, sub = name.partition("_")
    digits = re.fullmatch(r"([A-Za-z]+)([0-9]+)", base)
    if digits and not sub:
        base, sub = digits.groups()
    base = base if len(base) == 1 else rf"\mathrm{{{base}}}"
    if not sub:
        return base
    return f"{base}_{{{sub.replace('_', ',')}}}"


def _tex_number(x: float) -> tuple[str, int]:
    text, p = number(x)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
        p = TIMES
    return text, p


LATEX = Dialect(
    _tex_expression,
    r"{name} &= {expr} \\",
    _tex_name,
    lambda name: r"\pi" if name == "pi" else "e",
    _tex_number,
)


def to_latex(derived: Derived, wrt: Sequence[str], assigned: Mapping[int, str], source: str) -> str:
    r"""The statements as LaTeX equations (an aligned block); \overline{x} is d out/d x."""
    program = statements(derived, wrt, assigned, LATEX)
    comment = header(source, wrt, "%")
    comment.append(r"% \overline{v} is d out/d v for each value v")
    return "\n".join([*comment, r"\begin{aligned}", *program.lines, r"\end{aligned}"]) + "\n"


# --- SymPy ----------------------------------------------------------------------------

SYMPY_NODE_LIMIT = 2_000  # nodes printed: SymPy's expressions are trees, and it recurses


def sympy_derivatives(derived: Derived, wrt: Sequence[str]) -> dict[str, object]:
    """Each wanted derivative as a SymPy expression in the inputs' symbols.

    The SymPy interpretation of the derived graph: one loop over the nodes,
    each gate's SymPy counterpart from the gate table, never user text.
    """
    import sympy as sp
    from backprop.engine.check import _constant as constant_sympy
    from backprop.engine.gates import GATES

    needed = [False] * len(derived.ops)
    for wanted in wrt:
        needed[derived.gradients[wanted]] = True
    for i in range(len(derived.ops) - 1, -1, -1):
        if needed[i]:
            for j in derived.inputs[i]:
                needed[j] = True
    if sum(needed) > SYMPY_NODE_LIMIT:
        from backprop.parser.errors import BackpropError

        raise BackpropError(
            f"the derivative has {sum(needed):,} nodes, over the {SYMPY_NODE_LIMIT:,} that "
            "SymPy's expressions are made for: use --format bp or python"
        )
    exprs: list[object] = [None] * len(derived.ops)
    for i, op in enumerate(derived.ops):
        if not needed[i]:
            continue
        if op == "var":
            exprs[i] = sp.Symbol(derived.labels[i], real=True)
        elif op == "const":
            label = derived.labels[i] if i < derived.original else ""
            exprs[i] = constant_sympy(sp, label, derived.values[i])
        else:
            exprs[i] = GATES[op].sympy(sp, *[exprs[j] for j in derived.inputs[i]])
    return {wanted: exprs[derived.gradients[wanted]] for wanted in wrt}


class NotPrintable(Exception):
    """A SymPy expression with a part backprop's language has no gate for."""


_SYMPY_FUNCTIONS = {
    "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin",
    "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "Abs": "abs", "sign": "sign", "Max": "max", "Min": "min",
}  # fmt: skip


def sympy_to_bp(expr: object) -> str:
    """A SymPy expression written in backprop's language (no recursion)."""
    import sympy as sp

    done: dict[int, tuple[str, int]] = {}
    parts: dict[int, tuple[object, ...]] = {}  # what each node is written from
    stack: list[tuple[object, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in done:
            continue
        if not ready:
            parts[id(node)] = _parts(sp, node)
            if parts[id(node)]:
                stack.append((node, True))
                stack.extend((a, False) for a in parts[id(node)])
                continue
        kids = [done[id(a)] for a in parts[id(node)]]
        done[id(node)] = _sympy_node(sp, node, kids)
    return done[id(expr)][0]


def _parts(sp: Any, node: Any) -> tuple[object, ...]:
    """The sub-expressions a node is written from; where(c, t, f) for SymPy's
    Piecewise((t, c > 0), (f, True)), the form `where` and its derivatives take."""
    if isinstance(node, (sp.Rational, sp.Float)):
        return ()
    if isinstance(node, sp.Piecewise):
        (t, cond), (f, otherwise) = node.args if len(node.args) == 2 else ((0, 0), (0, 0))
        if otherwise is not sp.true or not isinstance(cond, sp.StrictGreaterThan):
            raise NotPrintable("Piecewise")
        return (cond.lhs - cond.rhs, t, f)
    return tuple(node.args)


def _sympy_node(sp: object, node: object, kids: list[tuple[str, int]]) -> tuple[str, int]:
    s: object = sp
    if isinstance(node, s.Symbol):  # type: ignore[attr-defined]
        return str(node), ATOM
    if node is s.pi:  # type: ignore[attr-defined]
        return "pi", ATOM
    if node is s.E:  # type: ignore[attr-defined]
        return "e", ATOM
    if isinstance(node, s.Integer):  # type: ignore[attr-defined]
        return number(float(int(node)))  # type: ignore[call-overload]
    if isinstance(node, s.Rational):  # type: ignore[attr-defined]
        p, q = node.p, node.q  # type: ignore[attr-defined]
        return _bp_expression(
            "div", [number(float(p))[0], number(float(q))[0]], [number(float(p))[1], ATOM]
        )
    if isinstance(node, s.Float):  # type: ignore[attr-defined]
        return number(float(node))  # type: ignore[arg-type]
    name = type(node).__name__
    texts = [k[0] for k in kids]
    powers = [k[1] for k in kids]
    if name == "Add":
        out, p = texts[0], powers[0]
        for t, q in zip(texts[1:], powers[1:]):
            if t.startswith("-") and q >= TIMES:
                out, p = f"{out} - {t[1:]}", PLUS
            else:
                out, p = _infix("add", [out, t], [p, q], _BP_BINARY)
        return out, p
    if name == "Mul":
        out, p = texts[0], powers[0]
        if out == "-1" and len(texts) > 1:
            out, p = texts[1], powers[1]
            rest = list(zip(texts[2:], powers[2:]))
            for t, q in rest:
                out, p = _infix("mul", [out, t], [p, q], _BP_BINARY)
            return _bp_expression("neg", [out], [p])
        for t, q in zip(texts[1:], powers[1:]):
            out, p = _infix("mul", [out, t], [p, q], _BP_BINARY)
        return out, p
    if name == "Pow":
        exponent = node.args[1]  # type: ignore[attr-defined]
        if exponent == s.Rational(1, 2):  # type: ignore[attr-defined]
            return f"sqrt({texts[0]})", ATOM
        if exponent == -1:
            return _infix("div", ["1", texts[0]], [ATOM, powers[0]], _BP_BINARY)
        return _infix("pow", texts, powers, _BP_BINARY)
    if name in _SYMPY_FUNCTIONS:
        return f"{_SYMPY_FUNCTIONS[name]}({', '.join(texts)})", ATOM
    if name == "Piecewise":
        return f"where({', '.join(texts)})", ATOM
    if name == "Heaviside":
        return f"where({texts[0]}, 1, 0)", ATOM  # PyTorch's relu'(0) = 0, not SymPy's 1/2
    raise NotPrintable(name)
