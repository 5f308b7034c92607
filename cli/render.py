"""Renderers: pure functions of a Result (or an error) to text or rich renderables.

They arrange and format; they never compute. The plain path (pipes,
NO_COLOR) is our own fixed-layout text: rich would draw box characters,
wrap at the terminal width and clip floats (PITFALLS).
"""

from __future__ import annotations

import json
from typing import Any

from backprop.engine import NodeResult, Result
from backprop.parser import BackpropError, printable

HEADERS = ("id", "gate", "expression", "inputs", "value", "grad", "sympy", "check")
NUMERIC = {"id", "value", "grad", "sympy"}
RICH_ROW_LIMIT = 2_000  # past this, even a terminal gets the plain table
VERDICT_STYLE = {
    "ok": "green",
    "mismatch": "bold red",
    "inaccurate": "bold red",
    "n/a": "yellow",
    "not checked": "dim",
}


def fmt(x: float | None, precision: int | None = None) -> str:
    """A float in full (repr), or to `precision` significant digits; None is blank."""
    if x is None:
        return ""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(x) if precision is None else f"{x:.{precision}g}"


def _cells(node: NodeResult, precision: int | None) -> tuple[str, ...]:
    return (
        str(node.id),
        node.op,
        node.text,
        ", ".join(map(str, node.inputs)),
        fmt(node.value, precision),
        fmt(node.grad, precision),
        fmt(node.sympy_grad, precision),
        (node.verdict or "") + (" (local)" if node.check == "local" else ""),
    )


def _shown_columns(result: Result) -> int:
    # Without the cross-check (--no-check) the sympy and check columns would be empty.
    return len(HEADERS) - 2 if result.check.method == "none" else len(HEADERS)


def _footer(result: Result, precision: int | None) -> list[str]:
    lines = [f"output  {fmt(result.value, precision)}", "gradients"]
    width = max((len(name) for name in result.gradients), default=0)
    shown = {name: fmt(grad, precision) or "none" for name, grad in result.gradients.items()}
    digits = max((len(text) for text in shown.values()), default=0)
    for name, text in shown.items():
        # Right-aligned like the table's numbers, so signs and points line up.
        lines.append(f"  {name.ljust(width)}  {text.rjust(digits)}")
    if not result.gradients:
        lines.append("  (no inputs)")
    check = result.check
    lines.append(f"check   {check.method}: {check.status}; {check.message}")
    notes = [(n, note) for n in result.nodes for note in n.notes]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "mismatch"]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "inaccurate"]
    notes += [(n, n.reason) for n in result.nodes if n.reason and n.verdict == "n/a"]
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
    rows = [HEADERS[:shown]] + [_cells(node, precision)[:shown] for node in result.nodes]
    widths = [max(len(row[c]) for row in rows) for c in range(shown)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if HEADERS[c] in NUMERIC else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    lines.extend(_footer(result, precision))
    return "\n".join(lines) + "\n"


def render_rich(result: Result, precision: int | None = None) -> Any:
    """The table for a terminal: a rich Group of the table and its footer."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold")
    shown = _shown_columns(result)
    for header in HEADERS[:shown]:
        numeric = header in NUMERIC
        table.add_column(
            header,
            justify="right" if numeric else "left",
            no_wrap=numeric or header in ("gate", "check"),
            overflow="fold",
        )
    for node in result.nodes:
        cells = [Text(c) for c in _cells(node, precision)]
        cells[-1].stylize(VERDICT_STYLE.get(node.verdict or "", ""))
        cells = cells[:shown]
        if node.grad is None:
            cells[1].stylize("dim")
        table.add_row(*cells)
    footer = Text("\n".join(_footer(result, precision)))
    footer.highlight_regex(r"^output.*$", "bold")
    return Group(table, Text(""), footer)


def result_document(result: Result) -> dict[str, Any]:
    """The JSON document (see schema/eval.schema.json)."""

    def number(x: float | None) -> float | None:
        return x if x is not None and x - x == 0 else None  # finite only

    nodes = []
    for node in result.nodes:
        item: dict[str, Any] = {
            "id": node.id,
            "op": node.op,
            "text": node.text,
            "span": [node.span.start, node.span.end],
            "inputs": list(node.inputs),
            "value": node.value,
            "grad": number(node.grad),
        }
        if node.verdict is not None:
            item["sympy_grad"] = number(node.sympy_grad)
            item["verdict"] = node.verdict
            if node.check is not None:
                item["check"] = node.check
            if node.reason:
                item["reason"] = node.reason
        if node.notes:
            item["notes"] = list(node.notes)
        nodes.append(item)
    check = result.check
    return {
        "expression": result.source,
        "at": result.at,
        "value": result.value,
        "output": result.output,
        "gradients": {name: number(g) for name, g in result.gradients.items()},
        "nodes": nodes,
        "check": {
            "method": check.method,
            "status": check.status,
            "scope": check.scope,
            "counts": dict(check.counts),
            "methods": dict(check.methods),
            "message": check.message,
        },
    }


def render_json(result: Result) -> str:
    """Strict JSON (no NaN or Infinity), floats in full, one node per line."""

    def dumps(value: Any, indent: int | None = None) -> str:
        return json.dumps(value, indent=indent, allow_nan=False, ensure_ascii=False)

    parts = []
    for key, value in result_document(result).items():
        if key == "nodes":
            body = ",\n".join("    " + dumps(node) for node in value)
            parts.append(f'  "nodes": [\n{body}\n  ]' if value else '  "nodes": []')
        else:
            parts.append(f"  {dumps(key)}: " + dumps(value, 2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


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
    # Long lines: show a window around the column.
    left = max(0, col - window)
    right = min(len(text), col + max(width, 1) + window)
    shown = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    offset = col - left + (1 if left else 0)
    pad = "".join(c if c == "\t" else " " for c in shown[:offset])
    caret = "^" * max(1, min(width, len(shown) - offset))
    prefix = "  "
    if source.count("\n", 0, len(source.rstrip("\n"))) > 0:
        line_no = source.count("\n", 0, start) + 1
        prefix = f"  line {line_no} | "
        lines.append(prefix + printable(shown, keep="\t"))
        lines.append(" " * (len(prefix) - 2) + "| " + pad + caret)
    else:
        lines.append(prefix + printable(shown, keep="\t"))
        lines.append(prefix + pad + caret)
    return "\n".join(lines) + "\n"
