"""`backprop explain --forward`: forward mode in words, gate by gate (the lines and the JSON).

The steps come from `backprop.engine.explain_forward`; this module arranges
them with the same writer, labels and number rule as the backward narration.
"""

from __future__ import annotations

import json
from typing import Any

from backprop.cli.explain import Line, Writer, _label, _text, _wrap, program_lines


def _times(local: str, tangent: str) -> str:
    return f"{local} * ({tangent})" if tangent.startswith("-") else f"{local} * {tangent}"


def forward_lines(doc: Any, precision: int | None) -> list[Line]:
    """The forward-mode walk-through of a ForwardExplanation as styled lines."""
    from backprop.engine.explain import symbolic, worked

    w = Writer(precision)
    num = w.num
    statements = program_lines(doc.source)
    w.line(("Program  ", "bold"), statements[0] if statements else "(empty)")
    for text in statements[1:]:
        w.line("         ", text)
    at = ", ".join(f"{name} = {num(value)}" for name, value in doc.at.items())
    w.line(("At       ", "bold"), at or "(no inputs)")
    from backprop.cli.render import direction_text

    along = direction_text(dict(doc.direction), num, " = ")
    w.line(("Along    ", "bold"), along)
    if precision is not None:
        w.line(
            ("Numbers  ", "bold"),
            f"rounded to {precision} significant digits; each step is worked on the full numbers",
        )
    w.blank()
    w.line(
        ("Forward mode", "bold underline"),
        ": the values and, beside them, each node's tangent: how fast it moves",
    )
    w.line("when the inputs move along the direction. Each gate multiplies the tangent of each")
    w.line("input by its local derivative and adds the products: that is its own tangent.")
    w.blank()
    width = max((len(name) for name, *_ in doc.inputs), default=0)
    ids = max((len(f"[{i}]") for _, i, *_ in doc.inputs), default=0)
    shown = max((len(num(value)) for _, _, value, _ in doc.inputs), default=0)
    for name, i, value, d in doc.inputs:
        w.line(
            f"  {f'[{i}]'.ljust(ids)}  input  {name.ljust(width)} = ",
            (num(value).ljust(shown), "cyan"),
            "  tangent ",
            (num(d), "bold green"),
            "" if d else "  (does not move)",
        )
    for step in doc.steps:
        label_width = (
            max(
                [len("tangent")]
                + [len(f"local d/d{_wrap(t.name)}") for t in step.terms]
                + [len(f"tangent of {t.name}") for t in step.terms]
            )
            + 2
        )
        w.blank()
        shown = worked(step.formula, step.operands, step.symbols, num)
        value = num(step.value)
        sums = f" = {shown}" if shown != value else ""
        w.line(
            (f"step {step.step}", "bold"),
            "  ",
            (f"{step.gate} gate", "bold magenta"),
            f" [{step.id}]  ",
            _text(step),
            sums,
            " = ",
            (value, "cyan"),
        )
        for term in step.terms:
            formula = symbolic(term.formula, step.names)
            filled = worked(term.formula, step.operands, step.symbols, num)
            local = num(term.local)
            chain = [formula] + [t for t in (filled, local) if t != formula]
            chain = [t for k, t in enumerate(chain) if k == 0 or t != chain[k - 1]]
            incoming = "0 (does not move)" if term.incoming is None else num(term.incoming)
            w.line(_label(f"local d/d{_wrap(term.name)}", label_width), " = ".join(chain))
            w.line(_label(f"tangent of {term.name}", label_width), incoming)
        products = []
        for term in step.terms:
            if term.sent is None:
                continue
            products.append(_times(num(term.local), num(term.incoming)))
        total = "0" if step.tangent is None else num(step.tangent)
        if len(products) > 1 or (products and products[0] != total):
            w.line(
                _label("tangent", label_width), " + ".join(products), " = ", (total, "bold green")
            )
        else:
            w.line(_label("tangent", label_width), (total, "bold green"))
        for term in step.terms:
            if term.flat:
                w.line("  ", (f"flat in {term.name} here: nothing flows on from it", "dim"))
        for note in step.notes:
            w.line("  ", ("note: " + note, "yellow"))
    w.blank()
    w.line(
        ("Directional derivative", "bold underline"),
        f" (the output [{doc.output}]'s tangent) = ",
        (num(doc.derivative), "bold green"),
    )
    w.line(f"  the gradient's dot product with the direction gives {num(doc.gradient_dot)}")
    n = len(doc.inputs)
    w.blank()
    w.line(("Cost", "bold underline"))
    w.line(
        f"  forward mode: one forward sweep per input direction ({n} for the whole gradient "
        f"here, {n} input{'s' if n != 1 else ''});"
    )
    w.line(
        f"  reverse mode: one backward sweep per output ({doc.outputs} here), which is why "
        "backprop uses reverse mode for gradients."
    )
    return w.lines


def _word(x: float) -> str:
    return "nan" if x != x else ("+inf" if x > 0 else "-inf")


def forward_document(doc: Any) -> dict[str, Any]:
    """The steps as data for `--json`; non-finite numbers are null."""
    from backprop.engine.explain import finite, symbolic

    steps = []
    for step in doc.steps:
        terms = []
        for term in step.terms:
            entry: dict[str, Any] = {
                "from": term.to,
                "name": term.name,
                "formula": symbolic(term.formula, step.names),
                "local": finite(term.local),
                "tangent_in": finite(term.incoming),
                "sent": finite(term.sent),
            }
            if term.flat:
                entry["flat"] = True
            terms.append(entry)
        item: dict[str, Any] = {
            "step": step.step,
            "id": step.id,
            "op": step.op,
            "gate": step.gate,
            "text": step.text,
            **({"name": step.name} if step.name else {}),
            "value": step.value,
            "terms": terms,
            "tangent": finite(step.tangent),
        }
        notes = list(step.notes)
        # A number written as null says what it is, as the backward walk-through does.
        for term in step.terms:
            if term.local is not None and finite(term.local) is None:
                notes.append(f"the local derivative d/d{term.name} is {_word(term.local)}")
        if step.tangent is not None and finite(step.tangent) is None:
            notes.append(f"the tangent is {_word(step.tangent)}")
        if notes:
            item["notes"] = notes
        steps.append(item)
    return {
        "expression": doc.source,
        "at": doc.at,
        "direction": doc.direction,
        "value": doc.value,
        "output": doc.output,
        "inputs": [
            {"name": name, "id": i, "value": value, "tangent": d}
            for name, i, value, d in doc.inputs
        ],
        "steps": steps,
        "directional_derivative": finite(doc.derivative),
        "gradient_dot_direction": finite(doc.gradient_dot),
        "sweeps": {"forward": len(doc.inputs), "reverse": doc.outputs},
    }


def render_json(doc: Any) -> str:
    def dumps(value: Any, indent: int | None = None) -> str:
        return json.dumps(value, indent=indent, allow_nan=False, ensure_ascii=False)

    parts = []
    for key, value in forward_document(doc).items():
        if key in ("steps", "inputs") and value:
            body = ",\n".join("    " + dumps(entry) for entry in value)
            parts.append(f"  {dumps(key)}: [\n{body}\n  ]")
        else:
            parts.append(f"  {dumps(key)}: " + dumps(value, 2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def explain(source: str, point: dict[str, float], direction: tuple[str, ...]) -> Any:
    """The forward walk-through along --direction (default: the first input)."""
    from backprop.engine.explain_forward import explain_forward
    from backprop.engine.point import parse_direction

    along = parse_direction(direction)
    if not along:
        from backprop.engine.build import build_graph
        from backprop.parser import parse

        names = list(build_graph(parse(source)).inputs)
        along = {names[0]: 1.0} if names else {}
    return explain_forward(source, point, along)
