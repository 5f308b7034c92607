"""`backprop graph`: draw the graph as a text tree, Graphviz DOT, Mermaid, or a picture.

The layout data (nodes, edges, the walk of a tree) comes from
`backprop.engine.draw`; this module formats it. User text (a sub-expression,
which may carry a comment) reaches DOT and Mermaid labels only through
`dot_string` and `mermaid_string`, which escape every character that means
something there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import click
from backprop.cli.main import (
    ProgramCommand,
    cli,
    handle_errors,
    load,
    plain_output,
    precision_option,
    program_options,
)
from backprop.cli.numbers import number
from backprop.parser import BackpropError, printable, quote, shorten

DEFAULT_PRECISION = 4  # as explain's
LABEL_WIDTH = 40  # a node's sub-expression in a drawing
TEXT_MAX_ROWS = 1_000  # past these a text tree is no longer readable
TEXT_MAX_DEPTH = 60
RENDER_MAX_NODES = 1_000  # past this a picture is a blur, and dot takes minutes
MERMAID_MAX_EDGES = 500  # Mermaid's default maxEdges
RENDER_FORMATS = {".svg": "svg", ".png": "png"}
PAGE_SUFFIXES = (".html", ".htm")  # -o FILE.html writes the page (backprop.cli.page)
DOT_SECONDS = 300

GRAPH_EXAMPLES = """
Examples:

\b
  backprop graph -f samples/perceptron.bp                  # a tree, with values and gradients
  backprop graph "x*x + x"                                 # the structure alone, no point
  backprop graph -f samples/fanout.bp --format dot | dot -Tsvg > fanout.svg
  backprop graph -f samples/perceptron.bp -o perceptron.svg   # needs Graphviz's dot
  backprop graph -f samples/staged.bp --format mermaid        # for a Markdown document
  backprop graph -f samples/perceptron.bp -o perceptron.html  # a page that plays the passes
"""


def _shorten(text: str, width: int = LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def node_lines(node: Any, drawing: Any, num: Callable[[float], str]) -> list[str]:
    """A node's label, line by line: what it is, its sub-expression, value and gradient."""
    if node.kind == "input":
        lines = [f"{node.gate}"]
    elif node.kind == "constant":
        lines = [_named(node, node.gate)]
    else:
        lines = [f"[{node.id}] {node.gate}", _named(node, _shorten(node.text))]
    if node.value is not None and (node.kind != "constant" or num(node.value) != node.gate):
        lines.append(f"value {num(node.value)}")
    if node.grad is not None:
        lines.append(f"grad {num(node.grad)}")
    if node.id == drawing.output:
        lines[0] += " (output)"
    return [printable(line) for line in lines]


def _named(node: Any, text: str) -> str:
    """A gate's sub-expression with the name the program assigned it: `h1 = tanh(w*x)`."""
    return f"{node.name} = {text}" if node.name else text


def _lettered(drawing: Any) -> set[int]:
    """Gates with two or more variable inputs: their edges say which input each is."""
    count: dict[int, int] = {}
    for edge in drawing.edges:
        if edge.var != "c":
            count[edge.target] = count.get(edge.target, 0) + 1
    return {target for target, n in count.items() if n > 1}


def _edge_label(edge: Any, lettered: set[int], num: Callable[[float], str]) -> str:
    parts = [edge.name] if edge.target in lettered else []
    if edge.grad is not None:
        parts.append(f"grad {num(edge.grad)}")
    return ": ".join(parts)


# --- DOT ----------------------------------------------------------------------

_DOT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "{": "\\{",
    "}": "\\}",
    "<": "\\<",
    ">": "\\>",
    "|": "\\|",
}
_DOT_TABLE = str.maketrans(_DOT_ESCAPES)


def dot_string(lines: list[str]) -> str:
    """A quoted DOT label: quotes, backslashes and record characters escaped, lines joined."""
    escaped = (printable(line).translate(_DOT_TABLE) for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def render_dot(drawing: Any, precision: int | None = DEFAULT_PRECISION) -> str:
    """Graphviz DOT: inputs on the left, the output on the right, gradients on the edges."""

    def num(x: float) -> str:
        return number(x, precision)

    out = [
        "digraph backprop {",
        "  rankdir=LR;",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for node in drawing.nodes:
        attrs = [f"label={dot_string(node_lines(node, drawing, num))}"]
        if node.kind == "input":
            attrs.append('shape=ellipse, style=filled, fillcolor="#e8f0fe"')
        elif node.kind == "constant":
            attrs.append('shape=plaintext, style=""')
        if node.id == drawing.output:
            attrs.append("peripheries=2")
        out.append(f"  n{node.id} [{', '.join(attrs)}];")
    lettered = _lettered(drawing)
    for edge in drawing.edges:
        label = _edge_label(edge, lettered, num)
        attrs = [f"label={dot_string([label])}"] if label else []
        if edge.grad is not None:
            attrs.append('fontcolor="#b00020"')
        elif drawing.evaluated:
            attrs.append("style=dashed")  # a constant: no gradient flows back
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"  n{edge.source} -> n{edge.target}{suffix};")
    out.append("}")
    return "\n".join(out) + "\n"


# --- Mermaid --------------------------------------------------------------------

_MERMAID_CODES = {c: f"#{ord(c)};" for c in '"#&<>|{}\\`'}
_MERMAID_TABLE = str.maketrans(_MERMAID_CODES)


def mermaid_string(lines: list[str]) -> str:
    """A quoted Mermaid label: special characters as entity codes (#34; ...), lines joined."""
    escaped = (printable(line).translate(_MERMAID_TABLE) for line in lines)
    return '"' + "<br>".join(escaped) + '"'


def render_mermaid(drawing: Any, precision: int | None = DEFAULT_PRECISION) -> str:
    """A Mermaid flowchart, left to right, for a Markdown document."""

    def num(x: float) -> str:
        return number(x, precision)

    out = ["flowchart LR"]
    for node in drawing.nodes:
        label = mermaid_string(node_lines(node, drawing, num))
        if node.kind == "input":
            out.append(f"  n{node.id}([{label}])")
        elif node.kind == "constant":
            out.append(f"  n{node.id}({label})")
        else:
            out.append(f"  n{node.id}[{label}]")
    lettered = _lettered(drawing)
    for edge in drawing.edges:
        label = _edge_label(edge, lettered, num)
        text = f"|{mermaid_string([label])}|" if label else ""
        out.append(f"  n{edge.source} -->{text} n{edge.target}")
    out.append("  classDef input fill:#e8f0fe;")
    out.append("  classDef output stroke-width:3px;")
    inputs = [f"n{n.id}" for n in drawing.nodes if n.kind == "input"]
    if inputs:
        out.append(f"  class {','.join(inputs)} input;")
    out.append(f"  class n{drawing.output} output;")
    return "\n".join(out) + "\n"


# --- text tree ------------------------------------------------------------------

ASCII_GUIDES = ("|   ", "    ", "|-- ", "`-- ")
UNICODE_GUIDES = ("│   ", "    ", "├── ", "└── ")

Segment = tuple[str, str]


def tree_lines(
    drawing: Any, precision: int | None = DEFAULT_PRECISION, unicode: bool = False
) -> list[list[Segment]]:
    """The text tree as styled lines; a node shown before is referenced, not repeated."""
    from backprop.engine.draw import tree_rows

    def num(x: float) -> str:
        return number(x, precision)

    through, space, branch, last = UNICODE_GUIDES if unicode else ASCII_GUIDES
    lines: list[list[Segment]] = []
    for row in tree_rows(drawing):
        node = drawing.nodes[row.node]
        if row.root and drawing.unused and row.node == drawing.unused[0]:
            lines.append([])
            lines.append([("not connected to the output:", "yellow")])
        guides = "".join(space if done else through for done in row.lasts[:-1])
        if row.lasts:
            guides += last if row.lasts[-1] else branch
        line: list[Segment] = [(guides, "dim")]
        name = node.gate if node.kind != "gate" else f"[{node.id}] {node.gate}"
        if node.kind == "constant":
            name = _named(node, name)
        if node.kind == "gate" and row.reference:
            line.append((f"[{node.id}] ", ""))
            line.append((printable(_named(node, _shorten(node.text))), ""))
            line.append(("  (shown above)", "dim"))
            lines.append(line)
            continue
        if row.reference:
            line.append((name, ""))
            line.append(("  (shown above)", "dim"))
            lines.append(line)
            continue
        line.append((printable(name), "bold" if node.kind == "gate" else ""))
        if node.kind == "gate":
            line.append(("  " + printable(_named(node, _shorten(node.text))), ""))
        elif node.kind == "constant":
            line.append(("  constant", "dim"))
        else:
            line.append(("  input", "dim"))
        if node.value is not None and (node.kind != "constant" or num(node.value) != node.gate):
            line.append(("  value ", ""))
            line.append((num(node.value), "cyan"))
        if node.grad is not None:
            line.append(("  grad ", ""))
            line.append((num(node.grad), "green"))
        if node.uses > 1:
            line.append((f"  (used {node.uses} times)", "yellow"))
        if node.id == drawing.output:
            line.append(("  <- output", "bold"))
        lines.append(line)
    return lines


def check_text_size(drawing: Any) -> None:
    """Refuse a tree too big or deep to read, and say what to use instead."""
    from backprop.engine.draw import tree_rows_count

    rows = tree_rows_count(drawing)
    if rows > TEXT_MAX_ROWS or drawing.depth > TEXT_MAX_DEPTH:
        raise BackpropError(
            f"the graph is too large to read as a text tree ({len(drawing.nodes)} nodes, "
            f"{drawing.depth} levels deep; a text tree stops at {TEXT_MAX_ROWS} lines and "
            f"{TEXT_MAX_DEPTH} levels): use --format dot and lay it out with Graphviz, "
            "or `backprop eval` for the table",
            kind="limit",
        )


# --- pictures -------------------------------------------------------------------


def picture_kind(path: str) -> str:
    """Graphviz's output format for a file name: svg or png."""
    kind = RENDER_FORMATS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise click.UsageError(
            "-o needs a file name ending in .svg or .png (or .html for the page), "
            f"got {quote(path)}"
        )
    return kind


def check_picture_size(drawing: Any) -> None:
    """Refuse a picture too large to be of use, and say what to use instead."""
    count = len(drawing.nodes)
    if count > RENDER_MAX_NODES:
        raise BackpropError(
            f"the graph has {count} nodes, too many for a useful picture (-o draws up "
            f"to {RENDER_MAX_NODES}): use --format dot and lay it out yourself, for example "
            "with `sfdp -Tsvg`",
            kind="limit",
        )


def render_file(dot_text: str, path: str) -> int:
    """Render DOT through Graphviz's `dot` into `path` (.svg or .png); its size in bytes."""
    kind = picture_kind(path)
    program = shutil.which("dot")
    if program is None:
        raise BackpropError(
            f"writing {path} needs Graphviz's `dot` program, which was not found on PATH: "
            "install Graphviz (apt-get install graphviz, brew install graphviz, or "
            "https://graphviz.org/download/), or write DOT text with --format dot",
            kind="io",
        )
    try:
        done = subprocess.run(
            [program, f"-T{kind}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackpropError(
            f"Graphviz's dot did not finish within {DOT_SECONDS} seconds: use --format dot "
            "and lay the graph out yourself",
            kind="io",
        ) from None
    except OSError as err:
        raise BackpropError(
            f"cannot run Graphviz's dot ({program}): {err.strerror or err}", kind="io"
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackpropError(
            f"Graphviz's dot failed (exit {done.returncode})"
            + (f": {shorten(message[0], 200)}" if message else ""),
            kind="io",
        )
    try:
        with open(path, "wb") as handle:
            handle.write(done.stdout)
    except OSError as err:
        raise BackpropError(
            f"cannot write {shorten(path, tail=True)}: {err.strerror or err}", kind="io"
        ) from None
    return len(done.stdout)


# --- the command ------------------------------------------------------------------


def _drawing(source: str, point: dict[str, float], check: Callable[[Any], None]) -> Any:
    """The evaluated drawing when there is a point (or no input), else the structure alone.

    `check` sees the structure first, so that a graph too large for the
    chosen format is refused before it is evaluated.
    """
    from backprop.engine import draw, evaluate
    from backprop.engine.build import build_graph
    from backprop.engine.explain import explain
    from backprop.parser import parse

    graph = build_graph(parse(source))
    if check is not _no_check or not point:
        structure = draw.from_graph(graph)
        check(structure)
        if not point and graph.inputs:
            return structure
    result = evaluate(source, point, check=False, trace=True)
    return draw.from_explanation(result, explain(result))


def _no_check(drawing: Any) -> None:
    pass


@click.command("graph", cls=ProgramCommand, epilog=GRAPH_EXAMPLES)
@program_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "mermaid", "html"]),
    help="text: a tree (the default); dot: Graphviz DOT; mermaid: a Mermaid flowchart; "
    "html: a page that plays the passes step by step (needs a point).",
)
@click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    help="Draw into FILE.svg or FILE.png with Graphviz's dot program (must be installed), "
    "or write the page into FILE.html.",
)
@precision_option(DEFAULT_PRECISION, "Significant digits of values and gradients.")
@handle_errors
def graph_command(
    program: str | None,
    path: str | None,
    at: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    precision: int,
    traceback: bool,
    source_box: list[str | None],
) -> int:
    """Draw PROGRAM's graph: each gate, its value and gradient when a point is given.

    Without --at (and without a sample's '# at:' line) the graph shows its
    structure alone. A node used more than once (a fan-out) is drawn once.
    """
    if fmt == "html" or (fmt is None and output and output.lower().endswith(PAGE_SUFFIXES)):
        from backprop.cli.page import write_page

        source, point = load(program, path, at, source_box)
        return write_page(source, point, output, precision)
    if output is not None and fmt not in (None, "dot"):
        raise click.UsageError(
            f"-o draws through Graphviz from DOT; --format {fmt} cannot go with it"
        )
    if output is not None:
        picture_kind(output)
    source, point = load(program, path, at, source_box)
    if output is not None:
        check = check_picture_size
    else:
        check = check_text_size if fmt in (None, "text") else _no_check
    drawing = _drawing(source, point, check)
    if output is not None:
        size = render_file(render_dot(drawing, precision), output)
        click.echo(
            f"wrote {output}: {len(drawing.nodes)} nodes, {len(drawing.edges)} edges, {size} bytes",
            err=True,
        )
        return 0
    if fmt == "dot":
        click.echo(render_dot(drawing, precision), nl=False)
        return 0
    if fmt == "mermaid":
        if len(drawing.edges) > MERMAID_MAX_EDGES:
            click.echo(
                f"note: {len(drawing.edges)} edges: Mermaid draws at most {MERMAID_MAX_EDGES} "
                "by default (its maxEdges setting); for a graph this size use --format dot",
                err=True,
            )
        click.echo(render_mermaid(drawing, precision), nl=False)
        return 0
    plain = plain_output()
    lines = tree_lines(drawing, precision, unicode=not plain)
    if plain:
        click.echo("".join("".join(t for t, _ in line).rstrip() + "\n" for line in lines), nl=False)
    else:
        from rich.console import Console
        from rich.text import Text

        text = Text()
        for line in lines:
            for segment, style in line:
                text.append(segment, style=style or None)
            text.append("\n")
        Console(highlight=False, emoji=False, markup=False, soft_wrap=True).print(text, end="")
    return 0


cli.add_command(graph_command)
