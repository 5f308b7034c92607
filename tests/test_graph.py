"""`backprop graph`: a text tree, DOT that Graphviz reads back, Mermaid, pictures.

The DOT output is checked twice: by a small structural reader here (it runs
everywhere) and by Graphviz itself (`dot -Tjson`), which CI installs. One
rendered SVG is checked to contain every node.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from backprop.cli.graph import (
    MERMAID_MAX_EDGES,
    dot_string,
    mermaid_string,
    node_lines,
    render_dot,
    render_mermaid,
    tree_lines,
)
from backprop.engine import draw, evaluate
from backprop.engine.build import build_graph
from backprop.engine.explain import explain
from backprop.parser import parse
from clirun import ROOT, run
from learning_scenarios import SAMPLES, TRICKY_PROGRAM

SAMPLE_POINTS = {
    "circuit": {"x": -2.0, "y": 5.0, "z": -4.0},
    "perceptron": {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0},
    "staged": {"x": 3.0, "y": -4.0},
    "tanh_neuron": {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432},
    "relu_max": {"w": 2.0, "x": 3.0, "b": -1.0, "y": 1.0},
    "fanout": {"x": 3.0},
}
DEEP = 50_000


def drawing_of(source: str, at: dict[str, float] | None = None) -> draw.Drawing:
    if at is None:
        return draw.from_graph(build_graph(parse(source)))
    result = evaluate(source, at, check=False)
    return draw.from_explanation(result, explain(result))


def sample(name: str) -> str:
    return (ROOT / "samples" / f"{name}.bp").read_text()


def num(x: float) -> str:
    from backprop.cli.explain import number

    return number(x, 4)


# --- a small DOT reader: the statements render_dot writes, nothing else -------------

QUOTED = r'"(?:[^"\\]|\\.)*"'
ATTR = rf"\w+=(?:{QUOTED}|[\w.#]+)"
ATTRS = rf"\[(?:{ATTR})(?:, {ATTR})*\]"
NODE = re.compile(rf"  n(\d+) ({ATTRS});")
EDGE = re.compile(rf"  n(\d+) -> n(\d+)(?: ({ATTRS}))?;")
LABEL = re.compile(rf"label=({QUOTED})")


def unescape_dot(quoted: str) -> list[str]:
    """A quoted DOT label back to its lines (the inverse of dot_string)."""
    lines, current, chars = [], [], iter(quoted[1:-1])
    for c in chars:
        if c == "\\":
            nxt = next(chars)
            if nxt == "n":
                lines.append("".join(current))
                current = []
            else:
                current.append(nxt)
        else:
            current.append(c)
    return [*lines, "".join(current)]


def read_dot(text: str) -> tuple[dict[int, list[str]], list[tuple[int, int]]]:
    lines = text.splitlines()
    assert lines[0] == "digraph backprop {" and lines[-1] == "}"
    nodes: dict[int, list[str]] = {}
    edges = []
    for line in lines[1:-1]:
        if line.startswith(("  rankdir", "  node [", "  edge [")):
            continue
        if match := NODE.fullmatch(line):
            label = LABEL.search(match[2])
            assert label is not None, line
            nodes[int(match[1])] = unescape_dot(label[1])
        elif match := EDGE.fullmatch(line):
            edges.append((int(match[1]), int(match[2])))
        else:
            raise AssertionError(f"not a DOT statement of ours: {line!r}")
    for source, target in edges:
        assert source in nodes and target in nodes
    return nodes, edges


@pytest.mark.parametrize("name", SAMPLES)
def test_dot_reads_back_structurally(name: str) -> None:
    drawing = drawing_of(sample(name), SAMPLE_POINTS[name])
    nodes, edges = read_dot(render_dot(drawing))
    assert sorted(nodes) == [n.id for n in drawing.nodes]
    assert edges == [(e.source, e.target) for e in drawing.edges]
    for node in drawing.nodes:
        assert nodes[node.id] == node_lines(node, drawing, num)


def test_dot_escapes_user_text() -> None:
    drawing = drawing_of(TRICKY_PROGRAM, {"x": 1.0, "y": 2.0})
    text = render_dot(drawing)
    nodes, _ = read_dot(text)
    (add,) = [n for n in drawing.nodes if n.op == "add"]
    assert '# say "hi" \\ <b> {c} | d & #1 `e`' in add.text
    assert nodes[add.id][1] == f"a = {add.text}"  # every character comes back
    for char in '"<>{}|':
        assert f"\\{char}" in text
    assert dot_string(["a\\nb"]) == '"a\\\\nb"'  # a user backslash never makes a line break


GRAPHVIZ = shutil.which("dot")
# CI installs Graphviz (.ci/run): there, a missing `dot` is a failure, not a skip.
needs_graphviz = pytest.mark.skipif(
    GRAPHVIZ is None and not os.environ.get("CI"),
    reason="Graphviz's dot is not installed (the structural DOT check still runs)",
)


@needs_graphviz
@pytest.mark.parametrize("name", [*SAMPLES, "tricky"])
def test_graphviz_reads_our_dot(name: str) -> None:
    assert GRAPHVIZ is not None, "CI must have Graphviz installed"
    if name == "tricky":
        drawing = drawing_of(TRICKY_PROGRAM, {"x": 1.0, "y": 2.0})
    else:
        drawing = drawing_of(sample(name), SAMPLE_POINTS[name])
    done = subprocess.run(
        [GRAPHVIZ, "-Tjson"], input=render_dot(drawing), capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    parsed = json.loads(done.stdout)
    objects = {obj["name"]: obj for obj in parsed["objects"]}
    assert sorted(objects) == sorted(f"n{n.id}" for n in drawing.nodes)
    for node in drawing.nodes:
        assert unescape_dot(f'"{objects[f"n{node.id}"]["label"]}"') == node_lines(
            node, drawing, num
        )
    ids = {obj["_gvid"]: name for name, obj in objects.items()}
    edges = [(ids[e["tail"]], ids[e["head"]]) for e in parsed.get("edges", [])]
    assert sorted(edges) == sorted((f"n{e.source}", f"n{e.target}") for e in drawing.edges)


@needs_graphviz
def test_rendered_svg_contains_every_node(tmp_path: Path) -> None:
    assert GRAPHVIZ is not None, "CI must have Graphviz installed"
    out = tmp_path / "perceptron.svg"
    done = run("graph", "-f", "samples/perceptron.bp", "-o", str(out))
    size = out.stat().st_size
    assert done.stdout == ""
    assert done.stderr == f"wrote {out}: 15 nodes, 14 edges, {size} bytes\n"
    svg = ET.parse(out).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    groups = svg.findall(".//svg:g[@class='node']", ns)
    titles = sorted(g.findtext("svg:title", namespaces=ns) for g in groups)
    assert titles == sorted(f"n{i}" for i in range(15))
    words = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for expected in ["[14] 1/x (output)", "[13] +1", "[12] exp", "[11] *-1", "grad -0.5344"]:
        assert expected in words
    assert len(svg.findall(".//svg:g[@class='edge']", ns)) == 14


@needs_graphviz
def test_png_is_a_png(tmp_path: Path) -> None:
    out = tmp_path / "fanout.png"
    run("graph", "-f", "samples/fanout.bp", "-o", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_graphviz_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "x.svg"
    done = run("graph", "x*y", "-o", str(out), env={"PATH": str(tmp_path)}, expect=2)
    assert "needs Graphviz's `dot` program" in done.stderr
    assert "--format dot" in done.stderr
    assert not out.exists()


def test_output_needs_svg_or_png() -> None:
    assert ".svg or .png" in run("graph", "x*y", "-o", "x.jpg", expect=2).stderr


# --- Mermaid ------------------------------------------------------------------------

MERMAID_NODE = re.compile(r'  n(\d+)(?:\(\["(.*)"\]\)|\("(.*)"\)|\["(.*)"\])')
MERMAID_EDGE = re.compile(r'  n(\d+) -->(?:\|"([^"]*)"\|)? n(\d+)')


def read_mermaid(text: str) -> tuple[dict[int, list[str]], list[tuple[int, int]]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes: dict[int, list[str]] = {}
    edges = []
    for line in lines[1:]:
        if match := MERMAID_NODE.fullmatch(line):
            label = next(g for g in match.groups()[1:] if g is not None)
            assert '"' not in label  # a quote would end the label
            decoded = html.unescape(re.sub(r"#(\d+);", r"&#\1;", label))
            nodes[int(match[1])] = decoded.split("<br>")
        elif match := MERMAID_EDGE.fullmatch(line):
            edges.append((int(match[1]), int(match[3])))
        else:
            assert line.startswith(("  classDef ", "  class ")), line
    return nodes, edges


@pytest.mark.parametrize("name", SAMPLES)
def test_mermaid_reads_back_structurally(name: str) -> None:
    drawing = drawing_of(sample(name), SAMPLE_POINTS[name])
    nodes, edges = read_mermaid(render_mermaid(drawing))
    assert edges == [(e.source, e.target) for e in drawing.edges]
    for node in drawing.nodes:
        assert nodes[node.id] == node_lines(node, drawing, num)


def test_mermaid_escapes_user_text() -> None:
    drawing = drawing_of(TRICKY_PROGRAM, {"x": 1.0, "y": 2.0})
    nodes, _ = read_mermaid(render_mermaid(drawing))
    (add,) = [n for n in drawing.nodes if n.op == "add"]
    assert nodes[add.id][1] == f"a = {add.text}"  # the name the program gave it
    assert mermaid_string(['"<b>|{x}#\\']) == '"#34;#60;b#62;#124;#123;x#125;#35;#92;"'


def test_mermaid_warns_past_its_edge_limit() -> None:
    program = "+".join(f"x{i}" for i in range(MERMAID_MAX_EDGES + 2))
    done = run("graph", program, "--format", "mermaid")
    assert "Mermaid draws at most 500" in done.stderr
    assert "--format dot" in done.stderr
    assert done.stdout.startswith("flowchart LR\n")


# --- the text tree -------------------------------------------------------------------


def test_shared_node_is_shown_once_and_referenced() -> None:
    out = run("graph", "-f", "samples/fanout.bp").stdout
    assert out.count("x  input  value 3  grad 7  (used 3 times)") == 1
    assert out.count("x  (shown above)") == 2
    shared = drawing_of("h = tanh(x); h*h + h", {"x": 0.5})
    rows = draw.tree_rows(shared)
    full = [r.node for r in rows if not r.reference]
    assert sorted(full) == [n.id for n in shared.nodes]  # every node drawn exactly once
    assert len(rows) == draw.tree_rows_count(shared)


def test_tree_without_a_point_shows_structure_only() -> None:
    out = run("graph", "x*x + x").stdout
    assert "value" not in out and "grad" not in out
    assert out.splitlines()[0] == "[2] add  x*x + x  <- output"


def test_terminal_tree_uses_box_guides() -> None:
    drawing = drawing_of("x*y + x", {"x": 1.0, "y": 2.0})
    plain = ["".join(t for t, _ in line) for line in tree_lines(drawing)]
    fancy = ["".join(t for t, _ in line) for line in tree_lines(drawing, unicode=True)]
    assert plain[1].startswith("|-- ") and fancy[1].startswith("├── ")
    assert all(not any(c in line for c in "│├└─") for line in plain)


# --- deep and large graphs --------------------------------------------------------------


@pytest.fixture(scope="module")
def deep_drawing() -> draw.Drawing:
    return drawing_of("tanh(" * DEEP + "x" + ")" * DEEP, {"x": 0.5})


@pytest.mark.slow
def test_deep_chain_draws_as_dot_and_mermaid(deep_drawing: draw.Drawing) -> None:
    assert deep_drawing.depth == DEEP
    dot = render_dot(deep_drawing)
    assert dot.count(" -> ") == DEEP
    nodes, edges = read_dot(dot)
    assert len(nodes) == DEEP + 1 and len(edges) == DEEP
    nodes, edges = read_mermaid(render_mermaid(deep_drawing))
    assert len(nodes) == DEEP + 1 and len(edges) == DEEP


@pytest.mark.slow
def test_deep_chain_through_the_command() -> None:
    program = "tanh(" * DEEP + "x" + ")" * DEEP
    done = run("graph", "-", "--at", "x=0.5", "--format", "dot", stdin=program)
    assert done.stdout.count(" -> ") == DEEP
    refused = run("graph", "-", "--at", "x=0.5", stdin=program, expect=2)
    assert "too large to read as a text tree" in refused.stderr
    assert f"{DEEP} levels deep" in refused.stderr and "--format dot" in refused.stderr
    assert refused.stdout == ""


def test_large_picture_is_refused_with_advice(tmp_path: Path) -> None:
    program = "+".join(f"w{i}*x{i}" for i in range(400))
    done = run("graph", program, "-o", str(tmp_path / "big.svg"), expect=2)
    assert "too many for a useful picture" in done.stderr
    assert "--format dot" in done.stderr
