"""`gradient_program(source, wrt, fmt)`: the gradient as a program, for `backprop grad`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backprop.engine.api import known_inputs
from backprop.engine.build import build_graph
from backprop.engine.derive import Derived, reverse
from backprop.engine.graph import Graph
from backprop.engine.printing import to_bp, to_latex, to_python
from backprop.parser import parse
from backprop.parser.parse import cycle_collector_paused

FORMATS = ("bp", "latex", "python", "sympy")
DEFAULT_SIMPLIFY_SECONDS = 5.0


@dataclass(frozen=True)
class GradientText:
    """The printed gradient: the whole text, one text per input, and notes."""

    wrt: tuple[str, ...]
    format: str
    text: str
    derivatives: dict[str, str]  # input -> the text with that input alone (--json)
    notes: tuple[str, ...] = ()  # what SymPy could not do within its budget
    order: int = 1
    sizes: tuple[int, ...] = ()  # --order N: the nodes the k-th derivative needs, k = 1..N


def _wanted(graph: Graph, wrt: Sequence[str] | None) -> list[str]:
    names = known_inputs(graph, wrt)
    if not wrt:
        return names
    # Each name once, where it was last given: the last --wrt is the output.
    return list(reversed(dict.fromkeys(reversed(wrt))))


def gradient_program(
    source: str,
    wrt: Sequence[str] | None = None,
    fmt: str = "bp",
    *,
    simplify: bool = False,
    seconds: float = DEFAULT_SIMPLIFY_SECONDS,
    order: int = 1,
) -> GradientText:
    """The gradient of the program in `source` as text in `fmt`.

    bp is a program in backprop's own language whose output is d out/d (the
    last of `wrt`); python a module with `gradient(...)`; latex equations;
    sympy SymPy expressions. `simplify` asks SymPy to simplify each
    derivative within `seconds` in all (bp, latex, sympy).
    """
    if order != 1:
        from backprop.engine.higher import higher_program

        return higher_program(source, wrt, fmt, order, simplify=simplify, seconds=seconds)
    with cycle_collector_paused():
        graph = build_graph(parse(source))
        wanted = _wanted(graph, wrt)
        derived = reverse(graph)
        if fmt == "sympy" or simplify:
            return _symbolic(derived, graph, wanted, fmt, source, simplify, seconds)
        printer = {"bp": to_bp, "latex": to_latex, "python": to_python}[fmt]
        text = printer(derived, wanted, dict(graph.names), source)
        if len(wanted) == 1:
            return GradientText(tuple(wanted), fmt, text, {wanted[0]: text})
        each = {name: printer(derived, [name], dict(graph.names), source) for name in wanted}
    return GradientText(tuple(wanted), fmt, text, each)


def _symbolic(
    derived: Derived,
    graph: Graph,
    wanted: list[str],
    fmt: str,
    source: str,
    simplify: bool,
    seconds: float,
) -> GradientText:
    import sympy as sp
    from backprop.engine.check import _deadline, _OutOfTime
    from backprop.engine.printing import (
        LATEX,
        NotPrintable,
        header,
        sympy_derivatives,
        sympy_to_bp,
    )

    exprs = sympy_derivatives(derived, wanted)
    notes: list[str] = []
    if simplify:
        deadline = time.monotonic() + seconds
        for name in wanted:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise _OutOfTime
                with _deadline(left):
                    exprs[name] = sp.simplify(exprs[name])
            except (_OutOfTime, RecursionError):
                notes.append(f"SymPy could not simplify d_{name} within {seconds:g} s")
    lines: dict[str, str] = {}
    for name in wanted:
        expr = exprs[name]
        if fmt == "latex":
            lines[name] = rf"{LATEX.spell('d_' + name)} &= {sp.latex(expr)} \\"
        elif fmt == "bp":
            try:
                lines[name] = f"d_{name} = {sympy_to_bp(expr)}"
            except NotPrintable as err:
                notes.append(f"d_{name} has {err}, which backprop's language cannot write")
                lines[name] = f"# d_{name} = {sp.sstr(expr)}"
        else:
            lines[name] = f"d_{name} = {sp.sstr(expr)}"
    comment = "%" if fmt == "latex" else "#"
    top = header(source, wanted, comment)
    top[0] = top[0].replace(
        "written out by backprop grad", "simplified by SymPy" if simplify else "by SymPy"
    )
    top += [f"{comment} note: {note}" for note in notes]
    from backprop.engine.point import AT_LINE, defaults

    if fmt == "bp" and AT_LINE.search(source):
        # Keep the point for the inputs the simplified derivatives still read:
        # a name in '# at:' that is not an input would be an error.
        read = {str(s) for name in wanted for s in getattr(exprs[name], "free_symbols", ())}
        kept = [f"{n}={v!r}" for n, v in defaults(source) if n in read]
        if kept:
            top.append(f"# at: {', '.join(kept)}")

    def block(names: list[str]) -> str:
        body = [lines[n] for n in names]
        if fmt == "latex":
            body = [r"\begin{aligned}", *body, r"\end{aligned}"]
        return "\n".join(top + body) + "\n"

    return GradientText(
        tuple(wanted), fmt, block(wanted), {n: block([n]) for n in wanted}, tuple(notes)
    )


def exact_values(
    source: str, wrt: Sequence[str] | None, point: Mapping[str, float], digits: int
) -> tuple[dict[str, float], dict[str, str]]:
    """Each derivative's value at `point` in `digits` significant digits: the printed
    bp program of d out/d NAME, evaluated by eval's N-digit interpreter (mpmath).

    Returns the point as used (the program's inputs) and the values as decimal strings.
    """
    from backprop.engine.api import evaluate, resolve_point

    with cycle_collector_paused():
        graph = build_graph(parse(source))
        wanted = _wanted(graph, wrt)
        used = resolve_point(graph, point)
        derived = reverse(graph)
        texts = {name: to_bp(derived, [name], dict(graph.names), source) for name in wanted}
    values: dict[str, str] = {}
    for name, text in texts.items():
        inner = build_graph(parse(text))
        at = {n: v for n, v in used.items() if n in inner.inputs}
        result = evaluate(text, at, check=False, digits=digits)
        assert result.value_exact is not None
        values[name] = result.value_exact
    return dict(used), values
