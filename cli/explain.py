"""`backprop explain`: the forward and backward passes in words, gate by gate.

The steps come from `backprop.engine.explain`; this module only arranges
them. One layout serves both outputs: each line is a list of (text, style)
segments, joined as plain text for pipes and NO_COLOR, or styled with rich
for a terminal.
"""

from __future__ import annotations

import json
from typing import Any

import click
from backprop.cli.main import (
    ProgramCommand,
    cli,
    digits_option,
    handle_errors,
    load,
    plain_output,
    precision_option,
    program_options,
    write_whole,
)
from backprop.cli.numbers import number
from backprop.parser import printable
from click.core import ParameterSource

DEFAULT_PRECISION = 4
TARGET_WIDTH = 40  # a node's sub-expression, where it names a gradient's destination
RICH_LINE_LIMIT = 20_000  # past this, even a terminal gets plain text

EXPLAIN_EXAMPLES = """
Examples:

\b
  backprop explain "(x+y)*z" --at x=-2,y=5,z=-4
  backprop explain -f samples/perceptron.bp --precision 2     # two digits, as the tutorial has them
  backprop explain -f samples/fanout.bp --json
  backprop explain "(1-cos(x))/x^2" --at x=1e-5 --digits 30    # in 30 digits (mpmath)
  backprop explain -f samples/perceptron.bp --html -o perceptron.html   # the page
  backprop explain --forward -f samples/circuit.bp --direction x=1,y=1   # forward mode
"""

WORDED = ("max", "min")  # local derivatives said in words, not worked with numbers
Segment = tuple[str, str]  # (text, rich style; "" for none)
Line = list[Segment]


def program_lines(source: str, limit: int = 10, width: int = 100) -> list[str]:
    """The program's statements as written, comments and blank lines left out."""
    lines = []
    # Lines end at "\n" only, as for the lexer: splitlines() would also end one
    # at a form feed or U+2028 inside a comment and show the comment's rest.
    for raw in source.removeprefix("\ufeff").split("\n"):
        text = " ".join(raw.split("#", 1)[0].split())
        text = printable(text)  # no terminal escapes from the program text
        if text:
            if len(lines) == limit:
                lines.append("…")
                break
            lines.append(_shorten(text, width))
    return lines


def _shorten(text: str, width: int = TARGET_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class Writer:
    """Collects the lines of the walk-through."""

    def __init__(self, precision: int | None, digits: int | None = None) -> None:
        self.lines: list[Line] = []
        self.precision = precision
        self.digits = digits

    def num(self, x: float) -> str:
        return number(x, self.precision, self.digits)

    def line(self, *segments: Segment | str) -> None:
        self.lines.append([(s, "") if isinstance(s, str) else s for s in segments])

    def blank(self) -> None:
        self.lines.append([])


def _ref(doc: Any, j: int, width: int = TARGET_WIDTH) -> str:
    """How a step names node j: an input or assigned name, else a gate's id and sub-expression."""
    step = doc.forward[j]
    if step.name:
        return step.name
    if step.gate in ("input", "constant"):
        return step.text
    return f"[{j}] {_shorten(step.text, width)}" if width else f"[{j}]"


def _text(step: Any) -> str:
    """A step's sub-expression, with the name the program assigned it: `h1 = tanh(w*x)`."""
    return f"{step.name} = {step.text}" if step.name else step.text


def explain_lines(doc: Any, precision: int | None = DEFAULT_PRECISION) -> list[Line]:
    """The walk-through of an Explanation as styled lines."""
    w = Writer(precision, doc.digits)
    at = ", ".join(f"{name} = {number(value, precision)}" for name, value in doc.at.items())
    statements = program_lines(doc.source)
    w.line(("Program  ", "bold"), statements[0] if statements else "(empty)")
    for text in statements[1:]:
        w.line("         ", text)
    w.line(("At       ", "bold"), at or "(no inputs)")
    if doc.digits is not None:
        shown = f"shown to {precision}" if precision is not None else "all shown"
        w.line(("Numbers  ", "bold"), f"worked in {doc.digits} significant digits, {shown}")
        w.line("         (--digits N: mpmath's arithmetic, not floats; --precision shows fewer)")
    elif precision is not None:
        w.line(
            ("Numbers  ", "bold"),
            f"rounded to {precision} significant digits; each step is worked on the full numbers",
        )
        w.line("         (--precision changes the digits; --json has every digit)")
    w.blank()

    # 1. Forward pass.
    w.line(("Forward pass", "bold underline"), ": inputs first, then each gate in order")
    for step in doc.forward:
        forward_line(w, doc, step)
    output_line(w, doc)
    w.blank()

    # 2. Backward pass.
    w.line(
        ("Backward pass", "bold underline"),
        ": from the output back to the inputs. Each gate multiplies the gradient",
    )
    w.line("from above (upstream) by its local derivative and sends the product to each input.")
    out_input = next((item.name for item in doc.inputs if item.id == doc.output), None)
    if out_input is not None:
        w.line(f"  The output is the input {out_input} itself: d out/d {out_input} = 1, no gate.")
    elif not doc.backward:
        w.line("  The output depends on no input: no gradient flows back.")
    for step in doc.backward:
        w.blank()
        backward_lines(w, doc, step)

    # 3. What each input ends with.
    if doc.inputs:
        w.blank()
        input_lines(w, doc)
    stepped = {step.id for step in doc.backward}
    other = [(i, text, note) for i, text, note in doc.notes if i not in stepped]
    if other:
        w.blank()
        w.line(("Notes", "bold underline"))
        for i, _, note in other:
            w.line(f"  [{i}] {_shorten(_text(doc.forward[i]))}: ", (note, "yellow"))
    return w.lines


def forward_line(w: Writer, doc: Any, step: Any) -> None:
    """One node of the forward pass: `[7]  multiply  w0*x0 = 2 * (-1) = -2`."""
    from backprop.engine.explain import worked

    num = w.num
    id_width = len(f"[{len(doc.forward) - 1}]")
    gate_width = max((len(s.gate) for s in doc.forward), default=0)
    head = f"  {f'[{step.id}]'.ljust(id_width)}  "
    gate = (step.gate.ljust(gate_width), "bold" if step.formula else "dim")
    if step.gate == "input":
        w.line(head, gate, "  ", step.text, " = ", (num(step.value), "cyan"))
        return
    if step.gate == "constant":
        value = num(step.value)
        w.line(head, gate, "  ", _text(step), "" if value == step.text else f" = {value}")
        return
    value = num(step.value)
    shown = worked(step.formula, step.operands, step.symbols, num)
    sums = f" = {shown}" if shown != value else ""
    w.line(head, gate, "  ", _text(step), sums, " = ", (value, "cyan"))


def output_line(w: Writer, doc: Any) -> None:
    """`output [14] = 0.7311`."""
    w.line("  output ", (f"[{doc.output}]", ""), " = ", (w.num(doc.value), "bold cyan"))


def backward_lines(w: Writer, doc: Any, step: Any, label_width: int = 19) -> None:
    """One gate of the backward pass: upstream, cached inputs, local derivatives, sends."""
    from backprop.engine.explain import symbolic, worked

    num = w.num
    w.line(
        (f"step {step.step}", "bold"),
        "  ",
        (f"{step.gate} gate", "bold magenta"),
        f" [{step.id}]  ",
        _text(step),
    )
    if step.hint:
        w.line("  ", (step.hint, "dim"))
    upstream = num(step.upstream)
    if step.id == doc.output:
        w.line(_label("upstream gradient", label_width), upstream, " (d out/d out)")
    elif len(step.parts) > 1:
        w.line(
            _label("upstream gradient", label_width),
            _sum(step.parts, num),
            " = ",
            upstream,
            f"  (used {len(step.parts)} times: the gradients add up)",
        )
    else:
        w.line(_label("upstream gradient", label_width), upstream)
    if step.cached:
        label = "cached input" if len(step.cached) == 1 else "cached inputs"
        cached = ", ".join(_cached(doc, op, num) for op in step.cached)
        w.line(_label(label, label_width), cached)
    for send in step.sends:
        formula = symbolic(send.formula, step.names)
        # max/min's words ("1 if x is the largest") are not worked with numbers.
        filled = (
            formula if step.op in WORDED else worked(send.formula, step.cached, step.symbols, num)
        )
        local = num(send.local)
        chain = [formula] + [t for t in (filled, local) if t != formula]
        chain = [t for k, t in enumerate(chain) if k == 0 or t != chain[k - 1]]
        w.line(_label(f"local d/d{_wrap(send.name)}", label_width), " = ".join(chain))
    for send in step.sends:
        product = local_times(num(send.local), num(send.upstream))
        if send.flat:
            # The backward pass sent nothing (PyTorch masks it the same way).
            w.line(
                _label(f"sends to {send.name}", label_width),
                (num(send.grad), "bold green"),
                "  -> ",
                _ref(doc, send.to),
                (f"  (flat in {send.name} here: nothing flows back, not {product})", "dim"),
            )
            continue
        w.line(
            _label(f"sends to {send.name}", label_width),
            f"{product} = ",
            (num(send.grad), "bold green"),
            "  -> ",
            _ref(doc, send.to),
        )
    for note in step.notes:
        w.line("  ", ("note: " + note, "yellow"))


def input_lines(w: Writer, doc: Any) -> None:
    """What each input ends with, and the parts it adds up from."""
    num = w.num
    w.line(("Gradients of the inputs", "bold underline"), " (d out/d input)")
    name_width = max(len(item.name) for item in doc.inputs) + 1
    for item in doc.inputs:
        grad = "none" if item.grad is None else num(item.grad)
        line: list[Segment | str] = [f"  {('d' + item.name).ljust(name_width)} = "]
        if len(item.parts) > 1:
            line += [_sum(item.parts, num), " = "]
        line.append((grad, "bold green"))
        if len(item.parts) > 1:
            line.append(f"  ({item.name} is used {len(item.parts)} times: the gradients add up)")
        elif item.id == doc.output:
            line.append("  (the output itself)")
        elif not item.parts:
            line.append("  (does not affect the output)")
        w.line(*line)


def _cached(doc: Any, operand: Any, num: Any) -> str:
    """`w1 = -3`: the input as the formulas call it, and the value it cached."""
    value = num(operand.value)
    if operand.name == value:  # a constant: `0 (a constant)`, not `0 = 0`
        return f"{value} (a constant)"
    return f"{operand.name} = {value}"


def _wrap(name: str) -> str:
    """`w*x` as `(w*x)` after d/d; a name, a call or [7] as it is."""
    from backprop.engine.explain import is_unit

    return name if is_unit(name) else f"({name})"


def _label(text: str, width: int) -> str:
    """A step's label, padded to `width`, and always two spaces from what follows."""
    return "  " + text.ljust(max(width, len(text) + 2))


def local_times(local: str, upstream: str) -> str:
    """`local * upstream`, a negative upstream in parentheses."""
    return f"{local} * ({upstream})" if upstream.startswith("-") else f"{local} * {upstream}"


def _sum(parts: Any, num: Any) -> str:
    text = num(parts[0].grad)
    for part in parts[1:]:
        shown = num(part.grad)
        text += f" - {shown[1:]}" if shown.startswith("-") else f" + {shown}"
    return text


def render_plain(lines: list[Line]) -> str:
    """The lines as plain text: the same bytes whatever the terminal."""
    return "".join("".join(text for text, _ in line).rstrip() + "\n" for line in lines)


def render_rich(lines: list[Line]) -> Any:
    """The lines as one rich Text (user text is never read as markup)."""
    from rich.text import Text

    out = Text()
    for line in lines:
        for text, style in line:
            out.append(text, style=style or None)
        out.append("\n")
    return out


def explain_document(doc: Any) -> dict[str, Any]:
    """The steps as data for `--json`; non-finite numbers are null with a note.

    Worked in N digits (--digits), each number is the float nearest to it, and
    KEY_exact beside it holds its N-digit decimal.
    """
    from backprop.engine.explain import finite, symbolic

    def num(key: str, x: Any) -> dict[str, Any]:
        if x is None or isinstance(x, float) or doc.digits is None:
            return {key: finite(x)}
        return {key: finite(float(x)), f"{key}_exact": number(x, None, doc.digits)}

    def operands(ops: Any) -> list[dict[str, Any]]:
        return [{"name": op.name, "id": op.node, **num("value", op.value)} for op in ops]

    def parts(items: Any) -> list[dict[str, Any]]:
        return [{"from": p.source, "name": p.name, **num("grad", p.grad)} for p in items]

    forward = []
    for step in doc.forward:
        item: dict[str, Any] = {"id": step.id, "op": step.op, "gate": step.gate, "text": step.text}
        if step.name:
            item["name"] = step.name
        if step.formula:
            item["inputs"] = list(step.inputs)
            item["formula"] = symbolic(step.formula, step.names)
            item["operands"] = operands(step.operands)
        item.update(num("value", step.value))
        forward.append(item)
    backward = []
    for step in doc.backward:
        sends = []
        for send in step.sends:
            entry: dict[str, Any] = {
                "to": send.to,
                "name": send.name,
                "formula": symbolic(send.formula, step.names),
                **num("local", send.local),
                **num("upstream", send.upstream),
                **num("grad", send.grad),
            }
            if send.flat:
                entry["flat"] = True  # nothing sent: the gate is flat in this input here
            sends.append(entry)
        item = {
            "step": step.step,
            "id": step.id,
            "op": step.op,
            "gate": step.gate,
            "text": step.text,
            **({"name": step.name} if step.name else {}),
            **num("upstream", step.upstream),
            "upstream_from": parts(step.parts),
            "cached": operands(step.cached),
            "sends": sends,
        }
        if step.notes:
            item["notes"] = list(step.notes)
        backward.append(item)
    inputs = []
    for entry in doc.inputs:
        item = {"name": entry.name, "id": entry.id, **num("grad", entry.grad)}
        item["from"] = parts(entry.parts)
        if entry.notes:
            item["notes"] = list(entry.notes)
        inputs.append(item)
    return {
        "expression": doc.source,
        "at": doc.at,
        **({"digits": doc.digits} if doc.digits is not None else {}),
        **num("value", doc.value),
        "output": doc.output,
        "forward": forward,
        "backward": backward,
        "gradients": {entry.name: num("grad", entry.grad)["grad"] for entry in doc.inputs},
        **(
            {"gradients_exact": {e.name: num("g", e.grad).get("g_exact") for e in doc.inputs}}
            if doc.digits is not None
            else {}
        ),
        "inputs": inputs,
        "notes": [{"id": i, "text": text, "note": note} for i, text, note in doc.notes],
    }


def render_json(doc: Any) -> str:
    """Strict JSON (no NaN or Infinity), floats in full, one step per line."""

    def dumps(value: Any, indent: int | None = None) -> str:
        return json.dumps(value, indent=indent, allow_nan=False, ensure_ascii=False)

    parts = []
    for key, value in explain_document(doc).items():
        if isinstance(value, list):
            body = ",\n".join("    " + dumps(entry) for entry in value)
            parts.append(f"  {dumps(key)}: [\n{body}\n  ]" if value else f"  {dumps(key)}: []")
        else:
            parts.append(f"  {dumps(key)}: " + dumps(value, 2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


@click.command("explain", cls=ProgramCommand, epilog=EXPLAIN_EXAMPLES)
@program_options
@click.option(
    "--json", "as_json", is_flag=True, help="Write the steps as one strict JSON document."
)
@click.option(
    "--html",
    "as_html",
    is_flag=True,
    help="Write a page that plays the steps over a picture of the graph (one HTML file).",
)
@click.option(
    "-o", "--output", metavar="FILE", help="With --html: write the page into FILE, not stdout."
)
@precision_option(
    DEFAULT_PRECISION,
    "Significant digits of the numbers in the text (JSON is always in full; "
    "with --digits, every digit unless this is given).",
)
@digits_option("The walk-through shows every step's numbers in N digits.")
@click.option(
    "--forward",
    is_flag=True,
    help="Narrate forward mode instead: each node's tangent along --direction (default: "
    "the first input), gate by gate.",
)
@click.option(
    "--direction",
    multiple=True,
    metavar="NAME=VALUE",
    help="The direction for --forward (x=1,y=0; missing names are 0).",
)
@handle_errors
def explain_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    as_json: bool,
    as_html: bool,
    output: str | None,
    precision: int | None,
    digits: int | None,
    forward: bool,
    direction: tuple[str, ...],
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Walk through PROGRAM's forward and backward passes, gate by gate.

    Each gate of the backward pass says what it caches, its local derivative
    (as a formula and as a number), the gradient from above, and what it sends
    to each input, as a tutorial's perceptron walk-through does by hand.
    """
    from backprop.engine import evaluate
    from backprop.engine.explain import explain

    if as_html and as_json:
        raise click.UsageError("--html and --json cannot go together")
    if output is not None and not as_html:
        raise click.UsageError("-o writes the page: it goes with --html")
    if as_html and digits is not None:
        raise click.UsageError("the page shows float arithmetic: --digits cannot go with --html")
    if direction and not forward:
        raise click.UsageError("--direction goes with --forward")
    source, point = load(program, path, at, source_box)
    if as_html:
        from backprop.cli.page import write_page

        if forward:
            raise click.UsageError("--html shows the backward pass; it does not go with --forward")
        return write_page(source, point, output, precision)
    if forward:
        from backprop.cli import explain_forward as narrate

        if digits is not None:
            raise click.UsageError("--digits works with the backward walk-through, not --forward")
        doc = narrate.explain(source, point, direction)
        if as_json:
            write_whole(narrate.render_json(doc))
            return 0
        lines = narrate.forward_lines(doc, precision)
    else:
        doc = explain(evaluate(source, point, check=False, trace=True, digits=digits))
        ctx = click.get_current_context()
        if digits is not None and ctx.get_parameter_source("precision") is ParameterSource.DEFAULT:
            precision = None  # the N digits asked for, all of them
        if as_json:
            write_whole(render_json(doc))
            return 0
        lines = explain_lines(doc, precision)
    if plain_output() or len(lines) > RICH_LINE_LIMIT:
        click.echo(render_plain(lines), nl=False)
    else:
        from rich.console import Console

        Console(highlight=False, emoji=False, markup=False, soft_wrap=True).print(
            render_rich(lines), end=""
        )
    return 0


cli.add_command(explain_command)
