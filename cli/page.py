"""The page: one self-contained HTML file that plays the forward and backward passes.

`render_page` lays the graph out (engine/layout.py), draws it as inline SVG,
and embeds the data the page's script steps through: `eval --json`'s document
and `explain --json`'s, byte for byte the same data, plus the steps (explain's
sentences, one gate at a time) and each node's details as text. The script
only shows and hides what is drawn here and copies text into place; it never
computes a number. The template (page.html, package data) holds the CSS and
the script; nothing is loaded from the network.

Every user text (the program, its comments, names, sub-expressions) reaches
the page through `escape` (HTML) or inside the JSON block with `<`, `>` and
`&` written as \\u003c, \\u003e, \\u0026, so that it can only ever be text.
"""

from __future__ import annotations

import json
import re
from html import escape
from importlib import resources
from typing import Any

from backprop.cli.numbers import number
from backprop.parser import BackpropError, printable, shorten

PAGE_MAX_NODES = 500  # drawn nodes: past this the picture is too large to follow
PAGE_MAX_BENDS = 5_000  # bends of wires that cross columns (they grow as nodes squared)
FULL = None  # precision of the details panel: every digit


def check_page_size(drawing: Any) -> None:
    """Refuse a picture too large to follow, and say what to use instead."""
    from backprop.engine.layout import count_points

    nodes, bends = count_points(drawing)
    if nodes > PAGE_MAX_NODES or bends > PAGE_MAX_BENDS:
        raise BackpropError(
            f"the graph is too large for the page ({nodes} nodes to draw and {bends} wire bends; "
            f"the page draws up to {PAGE_MAX_NODES} nodes and {PAGE_MAX_BENDS} bends): "
            "use `backprop explain` for the steps in words, or --format dot for a picture",
            kind="limit",
        )


def _script_json(value: Any) -> str:
    """JSON that can sit inside <script>: no '<', '>' or '&' can end or open a tag."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _fmt(x: float | None, precision: int | None) -> str:
    return "none" if x is None else number(x, precision)


def _f(x: float) -> str:
    """A coordinate: one decimal, no trailing zeros."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _segments(lines: list[Any]) -> list[list[list[str]]]:
    return [[[printable(text), style] for text, style in line] for line in lines]


# --- the steps ------------------------------------------------------------------


def build_steps(doc: Any, shown: list[bool], precision: int | None) -> list[dict[str, Any]]:
    """The page's steps: the start, each drawn node's forward step, each backward step,
    and the inputs' gradients; each with explain's sentences."""
    from backprop.cli.explain import (
        Writer,
        backward_lines,
        explain_lines,
        forward_line,
        input_lines,
        output_line,
    )

    head = explain_lines(doc, precision)
    head = head[: next((k for k, line in enumerate(head) if not line), len(head))]
    steps: list[dict[str, Any]] = [
        {"kind": "start", "node": None, "title": "The program and its point", "lines": head}
    ]
    for step in doc.forward:
        if not shown[step.id]:
            continue  # a constant drawn inside its gate's name (+1)
        w = Writer(precision)
        forward_line(w, doc, step)
        if step.id == doc.output:
            output_line(w, doc)
        title = "forward: " + ("an input" if step.gate == "input" else f"the {step.gate} gate")
        steps.append({"kind": "forward", "node": step.id, "title": title, "lines": w.lines})
    for step in doc.backward:
        w = Writer(precision)
        backward_lines(w, doc, step)
        title = f"backward step {step.step}: the {step.gate} gate"
        steps.append({"kind": "backward", "node": step.id, "title": title, "lines": w.lines})
    w = Writer(precision)
    if doc.inputs:
        input_lines(w, doc)
    else:
        w.line("The program has no inputs: no gradient flows back.")
    steps.append({"kind": "end", "node": None, "title": "the gradients", "lines": w.lines})
    for item in steps:
        item["lines"] = _segments(item["lines"])
    return steps


# --- the details of each node -----------------------------------------------------


def node_details(result: Any, doc: Any, kinks: dict[int, str]) -> list[dict[str, Any]]:
    """Each node as the details panel shows it, every number in full (text only)."""
    from backprop.engine.explain import symbolic

    locals_of: dict[int, list[list[str]]] = {}
    for step in doc.backward:
        locals_of[step.id] = [
            [send.name, symbolic(send.formula, step.names), _fmt(send.local, FULL)]
            for send in step.sends
        ]
    details = []
    for node, fwd in zip(result.nodes, doc.forward):
        item: dict[str, Any] = {
            "id": node.id,
            "op": node.op,
            "gate": fwd.gate,
            "name": node.name,
            "text": printable(node.text),
            "value": _fmt(node.value, FULL),
            "grad": _fmt(node.grad, FULL),
            "local": locals_of.get(node.id, []),
            "verdict": node.verdict or "",
            "sympy": "" if node.verdict is None else _fmt(node.sympy_grad, FULL),
            "reason": node.reason,
            "notes": list(node.notes),
            "kink": kinks.get(node.id, ""),
        }
        if fwd.formula:
            item["formula"] = symbolic(fwd.formula, fwd.names)
        details.append(item)
    return details


# --- the picture ----------------------------------------------------------------


def _path(points: tuple[tuple[float, float], ...]) -> str:
    """M start, then per pair (a, b): a curve to a, a straight line to b."""
    x0, y0 = points[0]
    out = [f"M{_f(x0)} {_f(y0)}"]
    px, py = x0, y0
    for k in range(1, len(points), 2):
        (ax, ay), (bx, by) = points[k], points[k + 1]
        mx = (px + ax) / 2
        out.append(f"C{_f(mx)} {_f(py)} {_f(mx)} {_f(ay)} {_f(ax)} {_f(ay)}")
        out.append(f"L{_f(bx)} {_f(by)}")
        px, py = bx, by
    return " ".join(out)


def _label(cls: str, x: float, y: float, text: str, on: int, full: str, extra: str = "") -> str:
    return (
        f'<text class="lbl {cls}" x="{_f(x)}" y="{_f(y)}" data-on="{on}" '
        f'data-num="{escape(full)}"{extra}>{escape(text)}</text>'
    )


def render_svg(
    result: Any,
    drawing: Any,
    layout: Any,
    timing: dict[str, Any],
    flats: set[tuple[int, int]],
    kinks: dict[int, str],
    precision: int | None,
) -> str:
    """The graph as inline SVG: boxes, wires, and every number, each shown from its step on."""
    nodes = result.nodes
    out = [
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{_f(layout.width)}" '
        f'height="{_f(layout.height)}" viewBox="0 0 {_f(layout.width)} {_f(layout.height)}" '
        'role="group" aria-label="the graph: inputs on the left, the output on the right">'
    ]
    # Input position of each edge: edges are listed per gate in input order.
    position: dict[int, int] = {}
    seen: dict[int, int] = {}
    for k, edge in enumerate(drawing.edges):
        position[k] = seen.get(edge.target, 0)
        seen[edge.target] = position[k] + 1
    fwd, bwd, grad_on = timing["forward"], timing["backward"], timing["grad"]
    out.append('<g class="wires">')
    for wire in layout.wires:
        edge = drawing.edges[wire.index]
        flat = (edge.target, position[wire.index]) in flats
        classes = "wire" + (" flat" if flat else "") + (" const" if edge.grad is None else "")
        out.append(
            f'<path id="e{wire.index}" class="{classes}" d="{_path(wire.points)}" '
            f'data-source="{edge.source}" data-target="{edge.target}"/>'
        )
    out.append("</g>")
    out.append('<g class="labels">')
    for wire in layout.wires:
        edge = drawing.edges[wire.index]
        (ax, y), (bx, _) = wire.points[-2], wire.points[-1]
        mid = (ax + bx) / 2
        value = nodes[edge.source].value
        attrs = (
            f' data-edge="{wire.index}" data-node="{edge.source}" '
            f'data-target="{edge.target}" data-pos="{position[wire.index]}"'
        )
        out.append(
            _label(
                "val",
                mid,
                y - 5,
                number(value, precision),
                fwd[edge.source],
                number(value),
                attrs,
            )
        )
        if edge.grad is not None and edge.target in bwd:
            out.append(
                _label(
                    "grad",
                    mid,
                    y + 14,
                    number(edge.grad, precision),
                    bwd[edge.target],
                    number(edge.grad),
                    attrs,
                )
            )
            if (edge.target, position[wire.index]) in flats:
                out.append(
                    f'<text class="lbl mark" x="{_f(mid)}" y="{_f(y + 26)}" '
                    f'data-on="{bwd[edge.target]}">flat</text>'
                )
    if layout.output_wire is not None:
        (ax, y), (bx, _) = layout.output_wire[-2:]
        out.append(f'<path class="wire out" d="{_path(layout.output_wire)}"/>')
        mid = (ax + bx) / 2
        output = nodes[result.output]
        attrs = f' data-node="{result.output}" data-output="1"'
        out.append(
            _label(
                "val",
                mid,
                y - 5,
                number(output.value, precision),
                fwd[result.output],
                number(output.value),
                attrs,
            )
        )
        if output.grad is not None:
            shown = number(output.grad, precision)
            out.append(
                _label("grad", mid, y + 14, shown, timing["seed"], number(output.grad), attrs)
            )
    out.append("</g>")
    out.append('<g class="nodes">')
    for box in layout.boxes:
        node, drawn = nodes[box.id], drawing.nodes[box.id]
        kind = drawn.kind
        classes = f"node {kind}" + (" kink" if box.id in kinks else "")
        classes += " output" if box.id == result.output else ""
        gate = drawn.gate if len(drawn.gate) <= 14 else drawn.gate[:13] + "…"
        described = f"[{box.id}] {drawn.gate}: {node.text}"
        back = f' data-bwd="{grad_on[box.id]}"' if box.id in grad_on else ""
        out.append(
            f'<g id="n{box.id}" class="{classes}" tabindex="0" role="button" '
            f'data-id="{box.id}" data-fwd="{fwd[box.id]}"{back} '
            f'aria-label="{escape(printable(shorten(described, 80)))}">'
        )
        out.append(f"<title>{escape(printable(shorten(described, 200)))}</title>")
        shape = "ellipse" if kind == "input" else "rect"
        if shape == "ellipse":
            out.append(
                f'<ellipse cx="{_f(box.x + box.width / 2)}" cy="{_f(box.y + box.height / 2)}" '
                f'rx="{_f(box.width / 2)}" ry="{_f(box.height / 2)}"/>'
            )
        else:
            out.append(
                f'<rect x="{_f(box.x)}" y="{_f(box.y)}" width="{_f(box.width)}" '
                f'height="{_f(box.height)}" rx="7"/>'
            )
        cx = box.x + box.width / 2
        out.append(
            f'<text class="gate" x="{_f(cx)}" y="{_f(box.y + box.height / 2 + 4)}">'
            f"{escape(printable(gate))}</text>"
        )
        top = []
        if node.name and kind != "input":
            top.append(node.name if len(node.name) <= 14 else node.name[:13] + "…")
        if box.id in kinks:
            top.append("kink")
        if top:
            out.append(
                f'<text class="tag" x="{_f(cx)}" y="{_f(box.y - 4)}">'
                f"{escape(printable(' · '.join(top)))}</text>"
            )
        if node.grad is not None and box.id in grad_on and (kind == "input" or drawn.uses > 1):
            out.append(
                _label(
                    "ngrad",
                    cx,
                    box.y + box.height + 12,
                    "grad " + number(node.grad, precision),
                    grad_on[box.id],
                    number(node.grad),
                    f' data-node="{box.id}"',
                )
            )
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out)


def step_timing(doc: Any, steps: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """At which step each number appears: values at their node's forward step,
    gradients along a wire at its gate's backward step, a node's own gradient
    once every part of it has arrived."""
    forward = {s["node"]: k for k, s in enumerate(steps) if s["kind"] == "forward"}
    backward = {s["node"]: k for k, s in enumerate(steps) if s["kind"] == "backward"}
    end = len(steps) - 1
    for i in range(count):
        forward.setdefault(i, 0)  # undrawn constants: known from the start
    grad: dict[int, int] = dict(backward)
    for step in doc.backward:
        for send in step.sends:
            if send.to not in backward:  # an input: complete after its last part
                grad[send.to] = max(grad.get(send.to, 0), backward[step.id])
    for item in doc.inputs:
        grad.setdefault(item.id, end)  # the output itself, or not connected to it
    first = min(backward.values(), default=end)
    return {"forward": forward, "backward": backward, "grad": grad, "seed": first}


def render_page(result: Any, doc: Any, drawing: Any, precision: int | None) -> str:
    """The whole page as one HTML document."""
    from backprop.cli.explain import explain_document
    from backprop.cli.render import result_document
    from backprop.engine.layout import lay_out, shown_edges, shown_nodes
    from backprop.engine.marks import flat_inputs, kinks

    shown = shown_nodes(drawing)
    steps = build_steps(doc, shown, precision)
    timing = step_timing(doc, steps, len(result.nodes))
    labels = {}
    for k in shown_edges(drawing):
        edge = drawing.edges[k]
        words = [number(result.nodes[edge.source].value, precision)]
        if edge.grad is not None:
            words.append(number(edge.grad, precision))
        labels[k] = max(len(w) for w in words)
    layout = lay_out(drawing, labels)
    marks = kinks(result)
    svg = render_svg(result, drawing, layout, timing, flat_inputs(result), marks, precision)
    data = {
        "eval": result_document(result),
        "explain": explain_document(doc),
        "steps": [
            {**step, **({"wires": _active(drawing, step)} if step["node"] is not None else {})}
            for step in steps
        ],
        "details": node_details(result, doc, marks),
    }
    options = "\n".join(
        f'<option value="{n.id}">{escape(printable(shorten(_option(n, drawing), 70)))}</option>'
        for n in result.nodes
        if shown[n.id]
    )
    at = ", ".join(f"{name} = {number(value)}" for name, value in result.at.items())
    words = {
        "TITLE": escape(printable(shorten("backprop: " + _one_line(result.source), 100))),
        "PROGRAM": escape(_program_text(result.source)),
        "AT": escape(printable(at or "(no inputs)")),
        "CHECK": escape(f"{result.check.status}: {result.check.message}"),
        "SVG": svg,
        "OPTIONS": options,
        "DATA": _script_json(data),
        "STEPS": str(len(steps)),
        "LAST": str(len(steps) - 1),
    }
    template = resources.files("backprop.cli").joinpath("page.html").read_text(encoding="utf-8")
    # One pass: text put in for one placeholder is never read for another.
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: words[m.group(1)], template)


def _active(drawing: Any, step: dict[str, Any]) -> list[str]:
    """The wires a step works on: into the node (forward) or back along its inputs."""
    return [f"e{k}" for k, edge in enumerate(drawing.edges) if edge.target == step["node"]]


def _option(node: Any, drawing: Any) -> str:
    gate = drawing.nodes[node.id].gate
    text = f"{node.name} = {node.text}" if node.name else node.text
    return f"[{node.id}] {gate}: {text}" if node.inputs else f"[{node.id}] {text}"


def _program_text(source: str) -> str:
    """The program as written, line by line (a line ends at "\\n", as for the lexer)."""
    lines = source.removeprefix("\ufeff").split("\n")
    return "\n".join(printable(line.removesuffix("\r")) for line in lines).rstrip("\n")


def _one_line(source: str) -> str:
    lines = [line.split("#", 1)[0].strip() for line in source.split("\n")]
    return "; ".join(line for line in lines if line) or "(empty)"


def write_page(
    source: str, point: dict[str, float], output: str | None, precision: int | None
) -> int:
    """Check the size, evaluate with the trace and the check, render, write. 0 when written."""
    import click
    from backprop.cli.main import write_whole
    from backprop.engine import draw, evaluate
    from backprop.engine.build import build_graph
    from backprop.engine.explain import explain
    from backprop.parser import parse

    check_page_size(draw.from_graph(build_graph(parse(source))))
    result = evaluate(source, point, check=True, trace=True)
    doc = explain(result)
    drawing = draw.from_explanation(result, doc)
    page = render_page(result, doc, drawing, precision)
    if output is None:
        write_whole(page)
        return 0
    data = page.encode("utf-8")
    try:
        with open(output, "wb") as handle:
            handle.write(data)
    except OSError as err:
        raise BackpropError(
            f"cannot write {shorten(output, tail=True)}: {err.strerror or err}", kind="io"
        ) from None
    from backprop.engine.layout import shown_nodes

    click.echo(
        f"wrote {output}: {sum(shown_nodes(drawing))} nodes drawn, {len(data):,} bytes; "
        f"check {result.check.status}",
        err=True,
    )
    return 0
