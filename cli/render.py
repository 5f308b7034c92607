"""Renderers: pure functions of a Result (or an error) to text or rich renderables.

They arrange and format; they never compute. The plain path (pipes,
NO_COLOR) is our own fixed-layout text: rich would draw box characters,
wrap at the terminal width and clip floats (PITFALLS).
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import compress, cycle, islice, repeat
from operator import add, sub
from typing import Any, NamedTuple

from backprop.cli.numbers import finite as _finite
from backprop.cli.numbers import number
from backprop.engine import NodeResult, Result
from backprop.engine.graph import Columns, RunNames
from backprop.engine.results import NodeResults
from backprop.parser import BackpropError, Span, printable

HEADERS = ("id", "gate", "expression", "inputs", "value", "grad", "sympy", "check")
FD_HEADERS = ("fd", "fd check")  # with --fd: each input's finite difference and its verdict
# Every column a table can have, in order: the tangent with --direction, fd with --fd.
ALL_HEADERS = (*HEADERS[:6], "tangent", *HEADERS[6:], *FD_HEADERS)
NUMERIC = {"id", "value", "grad", "tangent", "sympy", "fd"}
RICH_ROW_LIMIT = 2_000  # past this, even a terminal gets the plain table
VERDICT_STYLE = {
    "ok": "green",
    "mismatch": "bold red",
    "inaccurate": "bold red",
    "n/a": "yellow",
    "not checked": "dim",
}


def fmt(x: float | None, precision: int | None = None) -> str:
    """A float as every command writes it (backprop.cli.numbers); None is blank."""
    return "" if x is None else number(x, precision)


def _exact_or(x: float | None, exact: str | None, precision: int | None) -> str:
    """With --digits (and no --precision), the N-digit decimal; else the float."""
    return exact if exact is not None and precision is None else fmt(x, precision)


def _cells(node: NodeResult, precision: int | None, result: Result) -> tuple[str, ...]:
    """Every column of ALL_HEADERS for one node (the table picks the ones shown)."""
    fd = result.fd.get(node.text) if result.fd is not None and node.op == "var" else None
    tangent = None if result.tangents is None else result.tangents[node.id]
    return (
        str(node.id),
        node.op,
        f"{node.name} = {node.text}" if node.name else node.text,
        ", ".join(map(str, node.inputs)),
        _exact_or(node.value, node.value_exact, precision),
        _exact_or(node.grad, node.grad_exact, precision),
        fmt(tangent, precision),
        fmt(node.sympy_grad, precision),
        (node.verdict or "") + (" (local)" if node.check == "local" else ""),
        fmt(fd.value, precision) if fd is not None else "",
        (fd.verdict or "") if fd is not None else "",
    )


def _shown_columns(result: Result) -> list[int]:
    """The columns shown, as positions in ALL_HEADERS."""
    shown = list(range(6))
    if result.tangents is not None:
        shown.append(6)  # --direction
    # Without the cross-check (--no-check) the sympy and check columns would be empty.
    if result.check.method != "none":
        shown += [7, 8]
    if result.fd is not None:
        shown += [9, 10]
    return shown


def _pick(row: tuple[str, ...], shown: list[int]) -> tuple[str, ...]:
    return tuple(row[k] for k in shown)


def _fd_footer(result: Result, precision: int | None) -> list[str]:
    """With --fd: each input's finite difference, its relative error and verdict."""
    if result.fd is None:
        return []
    lines = ["fd      fourth-order central difference, step near cbrt(eps)*max(1,|x|)"]
    width = max((len(name) for name in result.fd), default=0)
    for name, fd in result.fd.items():
        if fd.verdict == "kink":
            what = f"kink: left {fmt(fd.left, precision)}, right {fmt(fd.right, precision)}"
        elif fd.value is None:
            what = "none"
        else:
            error = "" if fd.relative_error is None else f", relative error {fd.relative_error:.2g}"
            what = f"{fmt(fd.value, precision)} ({fd.verdict or 'not compared'}{error})"
        note = f"; {fd.note}" if fd.note else ""
        lines.append(f"  {name.ljust(width)}  {what}{note}")
    return lines


def _footer(result: Result, precision: int | None) -> list[str]:
    exact = result.gradients_exact or {}
    lines = [f"output  {_exact_or(result.value, result.value_exact, precision)}", "gradients"]
    width = max((len(name) for name in result.gradients), default=0)
    shown = {
        name: _exact_or(grad, exact.get(name), precision) or "none"
        for name, grad in result.gradients.items()
    }
    digits = max((len(text) for text in shown.values()), default=0)
    for name, text in shown.items():
        # Right-aligned like the table's numbers, so signs and points line up.
        lines.append(f"  {name.ljust(width)}  {text.rjust(digits)}")
    if not result.gradients:
        lines.append("  (no inputs)")
    for output, grads in (result.output_gradients or {}).items():
        lines.append(f"gradients of {output}")
        for name, grad in grads.items():
            lines.append(f"  {name.ljust(width)}  {fmt(grad, precision) or 'none'}")
    if result.direction is not None:
        along = direction_text(result.direction, lambda d: fmt(d, precision), "=")
        derivative = fmt(result.directional_derivative, precision)
        lines.append(f"along   {along}: directional derivative {derivative}")
        n, m = len(result.direction), len(result.output_gradients or {}) or 1
        lines.append(
            f"cost    forward mode: 1 sweep per direction ({n} for every input's gradient); "
            f"reverse mode: 1 sweep per output ({m} here)"
        )
    check = result.check
    lines.append(f"check   {check.method}: {check.status}; {check.message}")
    lines.extend(_fd_footer(result, precision))
    notes = [(n, note) for n in result.nodes for note in n.notes]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "mismatch"]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "inaccurate"]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "n/a"]
    notes.sort(key=lambda item: item[0].id)  # in node order, as the table (stable)
    if notes:
        lines.append("notes")
        for node, note in notes:
            lines.append(f"  node {node.id} ({node.text}): {note}")
    gate_by_gate = [n for n in result.nodes if n.check == "local" and n.verdict == "ok"]
    if gate_by_gate:
        reasons = sorted({n.reason.removeprefix("checked gate by gate: ") for n in gate_by_gate})
        lines.append(
            f"checked gate by gate (local): {len(gate_by_gate):,} node(s): {'; '.join(reasons)}"
        )
    unchecked = [n for n in result.nodes if n.verdict == "not checked"]
    if unchecked:
        reasons = sorted({n.reason for n in unchecked})
        lines.append(f"not checked: {len(unchecked):,} node(s): {'; '.join(reasons)}")
    return lines


def render_plain(result: Result, precision: int | None = None) -> str:
    """The table as plain, aligned text: the same bytes whatever the terminal."""
    shown = _shown_columns(result)
    headers = _pick(ALL_HEADERS, shown)
    rows = [headers] + [_pick(_cells(node, precision, result), shown) for node in result.nodes]
    widths = [max(len(row[c]) for row in rows) for c in range(len(shown))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if headers[c] in NUMERIC else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.extend(_footer(result, precision))
    return "\n".join(lines) + "\n"


# The terminal table's columns in the order they are given up when the width is short.
GIVE_UP = ("expression", "inputs")
MIN_EXPRESSION_WIDTH = 16  # a wrapped expression narrower than this reads as a stub


class Layout(NamedTuple):
    """How the terminal table fits a width: its columns, their widths, the numbers' digits.

    A named tuple rather than a dataclass: made at every start-up, and a dataclass
    costs most of a millisecond to make.
    """

    headers: tuple[str, ...]
    widths: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...]
    hidden: tuple[str, ...] = ()  # columns given up, in GIVE_UP order
    digits: int | None = None  # significant digits the numbers were rounded to, to fit
    full_width: int = 0  # the width that shows every column and every digit asked for
    fits: bool = True  # False: nothing fits; the narrowest layout, wider than the terminal
    every_column_at: int | None = None  # the --precision that would show every column


def _table_width(widths: Sequence[int]) -> int:
    # A rich box table: a space of padding each side of a cell, a rule between and around cells.
    return sum(widths) + 3 * len(widths) + 1


class _Measure:
    """The table's cells and column widths at each number of digits, each worked out once."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.shown = _shown_columns(result)
        self.headers = _pick(ALL_HEADERS, self.shown)
        self._rows: dict[int | None, list[tuple[str, ...]]] = {}
        self._widths: dict[int | None, dict[str, int]] = {}

    def rows(self, digits: int | None) -> list[tuple[str, ...]]:
        if digits not in self._rows:
            result = self.result
            self._rows[digits] = [
                _pick(_cells(node, digits, result), self.shown) for node in result.nodes
            ]
        return self._rows[digits]

    def widths(self, digits: int | None, hidden: Sequence[str] = ()) -> tuple[list[str], list[int]]:
        """The headers shown and their columns' widths (the widest cell, or the header)."""
        from rich.cells import cell_len

        if digits not in self._widths:
            rows = self.rows(digits)
            self._widths[digits] = {
                h: max([len(h)] + [cell_len(row[k]) for row in rows])
                for k, h in enumerate(self.headers)
            }
        headers = [h for h in self.headers if h not in hidden]
        return headers, [self._widths[digits][h] for h in headers]

    def fit(self, digits: int | None, hidden: Sequence[str], widths: Sequence[int]) -> Layout:
        keep = [k for k, h in enumerate(self.headers) if h not in hidden]
        rows = tuple(tuple(row[k] for k in keep) for row in self.rows(digits))
        return Layout(tuple(self.headers[k] for k in keep), tuple(widths), rows, tuple(hidden))


def layout(result: Result, precision: int | None, width: int) -> Layout:
    """The widest honest table for `width` columns: never a cut number or an empty id.

    In order, until the table fits: wrap the expression (to no fewer than
    MIN_EXPRESSION_WIDTH columns), give up the expression column, then the
    inputs column, then round the numbers to the most significant digits
    that fit (a correct rounding, by the one number rule).
    """
    measure = _Measure(result)
    full = _table_width(measure.widths(precision)[1])
    wrapped = _wrap_expression(*measure.widths(precision), width)
    if wrapped is not None:
        return measure.fit(precision, (), wrapped)._replace(full_width=full)
    fewer = range(min(precision or 17, 17) - 1, 0, -1)  # digits below those asked for
    every = next((d for d in fewer if _wrap_expression(*measure.widths(d), width)), None)
    for n in range(1, len(GIVE_UP) + 1):
        widths = measure.widths(precision, GIVE_UP[:n])[1]
        if _table_width(widths) <= width:
            fit = measure.fit(precision, GIVE_UP[:n], widths)
            return fit._replace(full_width=full, every_column_at=every)
    for digits in [*fewer, 1]:
        widths = measure.widths(digits, GIVE_UP)[1]
        if _table_width(widths) <= width or digits == 1:
            fit = measure.fit(digits, GIVE_UP, widths)
            fits = _table_width(widths) <= width
            return fit._replace(digits=digits, full_width=full, fits=fits, every_column_at=every)
    raise AssertionError("unreachable: the loop ends at 1 digit")


def _wrap_expression(
    headers: Sequence[str], widths: Sequence[int], width: int
) -> tuple[int, ...] | None:
    """The widths, the expression's narrowed to fit `width` if need be; None if it cannot."""
    spare = width - _table_width(widths)
    if spare >= 0:
        return tuple(widths)
    if "expression" not in headers:
        return None
    at = headers.index("expression")
    room = widths[at] + spare
    if room < min(widths[at], MIN_EXPRESSION_WIDTH):
        return None
    return tuple(room if k == at else w for k, w in enumerate(widths))


def _fit_note(fit: Layout, width: int) -> str:
    """One line under a table that gave something up: what, and how to see it all."""
    from rich.cells import cell_len

    if not fit.hidden and fit.digits is None:
        return ""
    names, digits, full = fit.hidden, fit.digits, fit.full_width
    whats = [
        [f"{' and '.join(names)} column{'s' if len(names) > 1 else ''} left out"] * bool(names)
        + [f"numbers rounded to {digits} significant digits"] * bool(digits),
        [f"{', '.join(names)} left out"] * bool(names)
        + [f"rounded to {digits} digits"] * bool(digits),
        [f"no {', '.join(names)}"] * bool(names) + [f"{digits} digits"] * bool(digits),
    ]
    every = fit.every_column_at
    hows = [
        f"to see everything: --json or a terminal {full} columns wide"
        + (f", or --precision {every} for every column" if every else ""),
        f"all: --json or {full} columns"
        + (f"; --precision {every} fits all columns" if every else ""),
        *([f"more: --precision {every}, --json or {full} columns"] if every else []),
        f"all: --json or {full} columns",
        "all: --json",
    ]
    if not fit.fits:
        whats = [["the table is wider than the terminal"], ["too narrow"]]
    lines = [f"{', '.join(what)}; {how}" for how in hows for what in whats]
    # The most help that fits: the fullest advice first, then the fullest account of what is gone.
    return next((line for line in lines if cell_len(line) <= width), lines[-1])


def render_rich(result: Result, precision: int | None = None, width: int | None = None) -> Any:
    """The table for a terminal `width` columns wide (None: as wide as it needs), and its footer.

    See `layout` for what a short width gives up; a line under the table says
    what was left out and how to see it.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    fit = layout(result, precision, width or 1_000_000)
    table = Table(header_style="bold")
    for header, w in zip(fit.headers, fit.widths):
        numeric = header in NUMERIC
        table.add_column(
            header,
            justify="right" if numeric else "left",
            no_wrap=header != "expression",
            overflow="fold",
            width=w,
        )
    verdict_at = fit.headers.index("check") if "check" in fit.headers else None
    for node, row in zip(result.nodes, fit.rows):
        cells = [Text(c) for c in row]
        if verdict_at is not None:
            cells[verdict_at].stylize(VERDICT_STYLE.get(node.verdict or "", ""))
        if node.grad is None:
            cells[1].stylize("dim")
        table.add_row(*cells)
    parts: list[Any] = [table]
    if not fit.fits:
        # Nothing fits: the plain rows, wrapped between words, rather than a table
        # whose cells rich would cut.
        parts = [Text(render_plain(result, fit.digits).split("\n\n", 1)[0])]
    note = _fit_note(fit, width or 0)
    if note:
        parts.append(Text(note, style="dim"))
    footer = Text("\n".join(_footer(result, precision)))
    footer.highlight_regex(r"^output.*$", "bold")
    return Group(*parts, Text(""), footer)


def direction_text(direction: dict[str, float], show: Any, equals: str) -> str:
    """`x=1, y=0`; past ten inputs, only the components that are not 0 (ten at most)."""
    items = list(direction.items())
    if len(items) <= 10:
        return ", ".join(f"{n}{equals}{show(d)}" for n, d in items)
    moving = [(n, d) for n, d in items if d != 0.0]
    text = ", ".join(f"{n}{equals}{show(d)}" for n, d in moving[:10])
    if len(moving) > 10:
        text += f" and {len(moving) - 10:,} more"
    rest = len(items) - len(moving)
    return f"{text} (the other {rest:,} inputs 0)" if rest else text


def _node_item(node: NodeResult, result: Result) -> dict[str, Any]:
    """One node of the JSON document, as a dict (see schema/eval.schema.json)."""
    item: dict[str, Any] = {
        "id": node.id,
        "op": node.op,
        "text": node.text,
        **({"name": node.name} if node.name else {}),
        "span": [node.span.start, node.span.end],
        "inputs": list(node.inputs),
        "value": node.value,
        "grad": _finite(node.grad),
    }
    if node.verdict is not None:
        item["sympy_grad"] = _finite(node.sympy_grad)
        item["verdict"] = node.verdict
        if node.check is not None:
            item["check"] = node.check
        if node.reason:
            item["reason"] = node.reason
    if node.notes:
        item["notes"] = list(node.notes)
    if result.fd is not None and node.op == "var":
        item.update(fd_fields(result.fd[node.text]))
    if result.digits is not None:
        item["value_exact"] = node.value_exact
        item["grad_exact"] = node.grad_exact
    if result.tangents is not None:
        tangent = result.tangents[node.id]
        item["tangent"] = _finite(tangent)
        if tangent is not None and item["tangent"] is None:  # null: say what it is
            what = "nan" if tangent != tangent else ("+inf" if tangent > 0 else "-inf")
            item["notes"] = [*item.get("notes", ()), f"tangent is {what}"]
    return item


def _head(result: Result) -> dict[str, Any]:
    """The JSON document without its nodes (which stand where "nodes" is None)."""
    check = result.check
    exact: dict[str, Any] = {}
    if result.digits is not None:
        exact = {
            "digits": result.digits,
            "value_exact": result.value_exact,
            "gradients_exact": result.gradients_exact,
        }
    gradients: dict[str, Any] = {name: _finite(g) for name, g in result.gradients.items()}
    if result.output_gradients is not None:
        gradients = {
            output: {name: _finite(g) for name, g in grads.items()}
            for output, grads in result.output_gradients.items()
        }
    forward: dict[str, Any] = {}
    if result.direction is not None:
        forward = {
            "direction": result.direction,
            "directional_derivative": _finite(result.directional_derivative),
        }
    return {
        "expression": result.source,
        "at": result.at,
        "value": result.value,
        "output": result.output,
        **({"outputs": list(result.output_gradients)} if result.output_gradients else {}),
        "gradients": gradients,
        **forward,
        **exact,
        "nodes": None,
        "check": check_document(check),
    }


def check_document(check: Any) -> dict[str, Any]:
    """A check's summary as JSON fields (eval's and hessian's "check")."""
    return {
        "method": check.method,
        "status": check.status,
        "scope": check.scope,
        "counts": dict(check.counts),
        "methods": dict(check.methods),
        "message": check.message,
    }


def matrix_json(document: dict[str, Any], matrices: Sequence[str]) -> str:
    """Strict JSON of `document`, floats in full, each of its `matrices` a row per line."""
    parts = []
    for key, value in document.items():
        if key in matrices and value:
            body = ",\n".join("    " + _dumps(row) for row in value)
            parts.append(f"  {_dumps(key)}: [\n{body}\n  ]")
        else:
            parts.append(f"  {_dumps(key)}: " + _dumps(value, 2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def fd_fields(fd: Any) -> dict[str, Any]:
    """A finite difference as JSON fields: fd, fd_step, fd_relative_error, fd_verdict
    (with fd_left and fd_right at a kink, fd_note where there is something to say)."""

    item: dict[str, Any] = {
        "fd": _finite(fd.value),
        "fd_step": fd.step,
        "fd_relative_error": _finite(fd.relative_error),
        "fd_verdict": fd.verdict,
    }
    if fd.verdict == "kink":
        item["fd_left"] = _finite(fd.left)
        item["fd_right"] = _finite(fd.right)
    if fd.note:
        item["fd_note"] = fd.note
    return item


def result_document(result: Result) -> dict[str, Any]:
    """The JSON document (see schema/eval.schema.json)."""
    document = _head(result)
    document["nodes"] = [_node_item(node, result) for node in result.nodes]
    return document


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, allow_nan=False, ensure_ascii=False)


# A node's line, by its number of inputs (3: three or more, their list in place of the
# first): the id, the head (op, text and name), the span, the first two inputs, the
# value and the gradient, written as one `%` fills a piece of lines at once.
_LINES = tuple(
    f'{{"id": %d, %s, "span": [%d, %d], "inputs": [{inputs}], "value": %s, "grad": %s}}'
    for inputs in ("%.0s%.0s", "%d%.0s", "%d, %d", "%s%.0s")
)
# The same in bytes, which `%` fills faster; an int's %.0a writes nothing, as %.0s does.
_BYTE_LINES = tuple(line.replace("%.0s", "%.0a").encode() for line in _LINES)
_NEGATIVE_ZERO = array("d", [-0.0]).tobytes()
_LITTLE_ENDIAN = _NEGATIVE_ZERO[7] == 0x80
_NONE_AS_ZERO = {None: 0.0}


def _utf8(text: str) -> bytes:
    return text.encode()


def _float_texts(numbers: list[Any], encode: Any = str, present: Any = None) -> list[Any] | None:
    """The JSON text of each number (None: null), as json.dumps writes it (`encode`d);
    None when one is not finite. Each distinct number is written once: generated
    programs repeat values (their constants, zeros, a recurrence at its fixed point).
    `present`, if given, is true where a number is not None (a gradient's node
    depends on an input): the negative zeros are looked for among those alone."""
    texts: dict[Any, Any] = dict.fromkeys(numbers, "")
    for x in texts:
        if x is None:
            texts[x] = encode("null")
        elif type(x) is not float or x - x != 0:  # inf or nan (or not a float)
            return None
        else:
            texts[x] = encode(float.__repr__(x))
    if 0.0 not in texts:
        return list(map(texts.__getitem__, numbers))
    texts[0.0] = encode("0.0")  # 0.0 and -0.0 are one key: the negative zeros are below
    out = list(map(texts.__getitem__, numbers))
    where: Any = None  # the position of each number in `raw`, where not all are there
    try:
        if present is None:
            raw = array("d", numbers).tobytes()
        elif numbers.count(None) == present.count(False):  # every float, and no None
            raw = array("d", compress(numbers, present)).tobytes()
            where = present
        else:
            raise TypeError
    except TypeError:  # None among them
        raw = array("d", map(_NONE_AS_ZERO.get, numbers, numbers)).tobytes()
        where = None
    # A negative zero's last byte (of 8: sign and exponent) is 0x80, as only the
    # tiniest negative numbers' is besides.
    tops = raw[7::8] if _LITTLE_ENDIAN else raw[::8]
    at = tops.find(0x80)
    negative = encode("-0.0")
    positions: list[int] | None = None
    while at >= 0:
        if raw[8 * at : 8 * at + 8] == _NEGATIVE_ZERO:
            if where is not None and positions is None:
                positions = list(compress(range(len(numbers)), where))
            out[at if positions is None else positions[at]] = negative
        at = tops.find(0x80, at + 1)
    return out


class _Heads:
    """Each node's JSON head (`"op": ..., "text": ...` and its name), a range at a time:
    made once per distinct op and text, and along a run of a repeated line (the
    graph's `runs`) repeated from the line before without looking at the text."""

    def __init__(self, graph: Any, columns: Columns, text: Any, encode: Any = str) -> None:
        from json.encoder import encode_basestring  # json.dumps's, with ensure_ascii=False

        self.quote = encode_basestring
        self.encode = encode  # str, or to UTF-8 bytes
        self.columns = columns
        self.source = graph.source
        # Heads are looked up outside the runs (and for the line before each), where
        # every name was given one at a time.
        names = graph.names
        self.names = names.explicit if isinstance(names, RunNames) else names
        self.named = sorted(self.names)
        self.text = text
        self.heads: dict[tuple[str, str], Any] = {}
        self.runs = columns.runs
        self.run = 0  # the first run that may meet the next range asked for
        self.patterns: dict[int, list[Any]] = {}

    def keyed(self, lo: int, hi: int) -> list[Any]:
        """The heads of nodes lo to hi, each looked up by its op and raw text."""
        starts, ends = self.columns.starts[lo:hi], self.columns.ends[lo:hi]
        limits: Any = ends
        if max(map(sub, ends, starts), default=0) > 80:
            # The text of a node depends only on its first 81 characters (Graph.text).
            limits = map(min, ends, map(add, starts, repeat(81)))
        keys = list(
            zip(self.columns.ops[lo:hi], map(self.source.__getitem__, map(slice, starts, limits)))
        )
        heads = self.heads
        if len(heads) > 100_000:  # a program of distinct texts: keep the memory flat
            heads.clear()
        missing = set(keys).difference(heads)
        if missing:
            first = dict(zip(reversed(keys), range(hi - 1, lo - 1, -1)))
            for key in missing:
                text = self.quote(self.text(first[key]))
                heads[key] = self.encode(f'"op": "{key[0]}", "text": {text}')
        out = list(map(heads.__getitem__, keys))
        named, k = self.named, bisect_left(self.named, lo)
        while k < len(named) and named[k] < hi:
            out[named[k] - lo] += self.encode(f', "name": {self.quote(self.names[named[k]])}')
            k += 1
        return out

    def __call__(self, lo: int, hi: int) -> list[Any]:
        """The heads of nodes lo to hi (asked for in order)."""
        out: list[Any] = []
        runs = self.runs
        while self.run < len(runs) and lo < hi:
            first, count, total = runs[self.run]
            if first + total <= lo:
                self.run += 1
                continue
            if first >= hi:
                break
            if lo < first:
                out += self.keyed(lo, first)
                lo = first
            pattern = self.patterns.get(first)
            if pattern is None:
                self.patterns.clear()
                pattern = self.patterns[first] = self.keyed(first - count, first)
            upto = min(first + total, hi)
            skip = (lo - first) % count
            out += islice(cycle(pattern), skip, skip + upto - lo)
            lo = upto
        if lo < hi:
            out += self.keyed(lo, hi)
        return out


def _node_lines(result: Result, lines: int = 4096, as_bytes: bool = False) -> Iterator[list[Any]]:
    """The nodes as lines of JSON, in lists of about `lines`: each line the same text
    as `_dumps(_node_item(node))` (in UTF-8 bytes with `as_bytes`).

    Common nodes (no check, no notes, finite numbers) are written column by
    column from the graph's columns: each distinct value and gradient of a
    piece written once (floats as repr, as json.dumps writes them), each
    node's head (op, text, name) made once per distinct one (`_Heads`), and
    all of a piece's lines filled by one `%`. A piece with anything else goes
    node by node.
    """
    nodes = result.nodes
    plain = result.digits is None and result.fd is None and result.tangents is None
    count = len(nodes)
    encode: Any = _utf8 if as_bytes else str

    def one(i: int) -> Any:  # a node by itself, through json.dumps
        return encode(_dumps(_node_item(nodes[i], result)))

    if not plain or not isinstance(nodes, NodeResults):
        for lo in range(0, count, lines):
            yield list(map(one, range(lo, min(lo + lines, count))))
        return
    templates = _BYTE_LINES if as_bytes else _LINES
    separator = encode(",\n    ")
    graph, values, grads, notes, checks = nodes.parts()
    columns = graph.nodes if isinstance(graph.nodes, Columns) else Columns.of(graph.nodes)
    arity, first, second = columns.arity, columns.first, columns.second
    starts, ends = columns.starts, columns.ends
    heads = _Heads(graph, columns, nodes.text, encode)
    depends = graph.depends  # where a gradient is a number, not None
    checked = checks is not None and checks.count(None) != len(checks)
    with_notes = iter(sorted(notes))
    noted = next(with_notes, count)
    made: dict[bytes, Any] = {}  # a piece's template, by its nodes' numbers of inputs
    for lo in range(0, count, lines):
        hi = min(lo + lines, count)
        value_texts = _float_texts(values[lo:hi], encode)
        grad_texts = _float_texts(grads[lo:hi], encode, depends[lo:hi] if depends else None)
        if value_texts is None or grad_texts is None:  # not finite: node by node
            yield list(map(one, range(lo, hi)))
            while noted < hi:
                noted = next(with_notes, count)
            continue
        piece_arity = arity[lo:hi]
        firsts: Any = first[lo:hi]
        if 3 in piece_arity:  # three inputs or more: their list in place of the first
            firsts = list(firsts)
            for j in range(hi - lo):
                if piece_arity[j] == 3:
                    firsts[j] = encode(", ".join(map(str, columns.more[lo + j])))
        columns_of_piece = (
            range(lo, hi),
            heads(lo, hi),
            starts[lo:hi],
            ends[lo:hi],
            firsts,
            second[lo:hi],
            value_texts,
            grad_texts,
        )
        if noted >= hi and not checked:
            # One template for the piece, filled from its columns laid side by side.
            template = made.get(piece_arity)
            if template is None:
                if len(made) >= 8:  # a repeated line's pieces repeat a few templates
                    made.clear()
                template = made[piece_arity] = separator.join(
                    map(templates.__getitem__, piece_arity)
                )
            flat: list[Any] = [None] * (8 * (hi - lo))
            for k, column in enumerate(columns_of_piece):
                flat[k::8] = column
            yield [template % tuple(flat)]
            continue
        rows = zip(*columns_of_piece)
        piece = list(map(type(separator).__mod__, map(templates.__getitem__, piece_arity), rows))
        while noted < hi:  # a node with notes
            piece[noted - lo] = one(noted)
            noted = next(with_notes, count)
        if checked:
            for j, c in enumerate(checks[lo:hi] if checks else ()):
                if c is not None:
                    piece[j] = one(lo + j)
        yield piece


def json_chunks(result: Result, lines: int = 4096, as_bytes: bool = False) -> Iterator[Any]:
    """Strict JSON (no NaN or Infinity), floats in full, one node per line, in pieces
    of about `lines` nodes: a writer streams them without holding the whole text.
    With `as_bytes`, the pieces are its UTF-8 bytes."""
    encode: Any = _utf8 if as_bytes else str
    yield encode("{\n")
    first = True
    for key, value in _head(result).items():
        comma = "" if first else ",\n"
        first = False
        if key != "nodes":
            yield encode(comma + f"  {_dumps(key)}: " + _dumps(value, 2).replace("\n", "\n  "))
            continue
        if not len(result.nodes):
            yield encode(comma + '  "nodes": []')
            continue
        sep = encode(comma + '  "nodes": [\n    ')
        between = encode(",\n    ")
        for piece in _node_lines(result, lines, as_bytes):
            yield sep
            yield between.join(piece)
            sep = between
        yield encode("\n  ]")
    yield encode("\n}\n")


def render_json(result: Result) -> str:
    """Strict JSON (no NaN or Infinity), floats in full, one node per line."""
    return "".join(json_chunks(result))


def render_error_json(kind: str, message: str, span: Span | None) -> str:
    """`{"error": {"kind": ..., "message": ..., "span": ...}}` (schema/error.schema.json)."""
    error = {
        "kind": kind,
        "message": printable(message, keep="\n"),
        "span": None if span is None else [span.start, span.end],
    }
    return json.dumps({"error": error}, ensure_ascii=False) + "\n"


def _visible(char: str) -> str:
    # An invisible or control character in the echoed line is shown by its code
    # point (the message names it), so the caret can stand under it.
    return char if char.isprintable() or char == "\t" else f"<U+{ord(char):04X}>"


def render_error(source: str | None, err: BackpropError, window: int = 60) -> str:
    """`error: message`, then the offending line with a caret under the span."""
    lines = [f"error: {printable(err.message, keep=chr(10))}"]
    span = err.span
    if source is None or span is None:
        return lines[0] + "\n"
    start = min(span.start, len(source))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end == -1:
        line_end = len(source)
    text = source[line_start:line_end].rstrip("\r")
    col = start - line_start
    width = max(1, min(span.end, line_start + len(text)) - start)
    width = min(width, 2 * window)  # a wide span: the caret marks its first part
    # Long lines: show a window around the column.
    left = max(0, col - window)
    right = min(len(text), col + width + window)
    before = "".join(map(_visible, text[left:col]))
    under = "".join(map(_visible, text[col : col + width]))
    after = "".join(map(_visible, text[col + width : right]))
    shown = ("…" if left else "") + before + under + after + ("…" if right < len(text) else "")
    pad = ("…" if left else "") + before
    pad = "".join(c if c == "\t" else " " for c in pad)
    caret = "^" * max(1, len(under))
    prefix = "  "
    if source.count("\n", 0, len(source.rstrip("\n"))) > 0:
        line_no = source.count("\n", 0, start) + 1
        prefix = f"  line {line_no} | "
        lines.append(prefix + shown)
        lines.append(" " * (len(prefix) - 2) + "| " + pad + caret)
    else:
        lines.append(prefix + shown)
        lines.append(prefix + pad + caret)
    return "\n".join(lines) + "\n"
