"""Reading a program fast changes nothing a user sees (issue "reading speed and memory").

The graph is built while the text is read (`read_graph`: no token list, no
syntax tree), node results are made as they are read, and the JSON writer
streams nodes through a template. Each is compared here with an independent
reference: the graph with the two-pass builder the engine had before (every
input first, then the nodes of each statement in post-order), written out
below; the JSON with `json.dumps` of the documented dict, node by node.
The timings are in benchmarks/reading.py, not here.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from backprop.cli.render import json_chunks, render_json, result_document
from backprop.engine import evaluate
from backprop.engine.build import build_graph, read_graph
from backprop.engine.graph import Columns, Graph, progression
from backprop.engine.results import NodeResults
from backprop.parser import (
    Assign,
    BackpropError,
    Binary,
    Call,
    Name,
    Num,
    ParseError,
    Program,
    Unary,
    parse,
)
from backprop.parser.parse import _copies
from backprop.parser.tree import BINARY_GATES, UNARY_GATES, children
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from strategies import GenProgram, programs, token_soups

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.bp"))


# --- the reference: the builder as it was, two passes over the syntax tree -------------------


def reference_nodes(program: Program) -> tuple[list[tuple[Any, ...]], int, dict[int, str]]:
    """(op, inputs, span, label, value) per node, the output id and the names, by the rules
    of SPEC "The language": inputs first, then each operator, call and literal as written."""

    def postorder(expr: Any) -> list[Any]:
        order, stack = [], [(expr, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((kid, False) for kid in reversed(children(node)))
        return order

    statements = [
        (s.name, postorder(s.value)) if isinstance(s, Assign) else (None, postorder(s))
        for s in program.statements
    ]
    nodes: list[tuple[Any, ...]] = []
    inputs: dict[str, int] = {}
    bound: set[str] = set()
    for target, order in statements:
        for expr in order:
            if isinstance(expr, Name) and expr.name not in bound | {"pi", "e"} | set(inputs):
                inputs[expr.name] = len(nodes)
                nodes.append(("var", (), tuple(expr.span), expr.name, 0.0))
        if target is not None:
            bound.add(target)
    env = dict(inputs)
    names: dict[int, str] = {}
    output = 0
    for target, order in statements:
        first = len(nodes)
        ids: dict[int, int] = {}
        for expr in order:
            if isinstance(expr, Name) and expr.name in env:
                ids[id(expr)] = env[expr.name]
                continue
            if isinstance(expr, Name):
                value = {"pi": math.pi, "e": math.e}[expr.name]
                nodes.append(("const", (), tuple(expr.span), expr.name, value))
            elif isinstance(expr, Num):
                nodes.append(("const", (), tuple(expr.span), expr.text, expr.value))
            else:
                if isinstance(expr, Binary):
                    op = BINARY_GATES[expr.op]
                elif isinstance(expr, Unary):
                    op = UNARY_GATES[expr.op]
                else:
                    assert isinstance(expr, Call)
                    op = expr.func
                kids = tuple(ids[id(kid)] for kid in children(expr))
                nodes.append((op, kids, tuple(expr.span), "", 0.0))
            ids[id(expr)] = len(nodes) - 1
        output = ids[id(order[-1])]
        if target is not None:
            env[target] = output
            if output >= first:
                names[output] = target
    return nodes, output, names


def shape(graph: Graph) -> tuple[list[tuple[Any, ...]], int, dict[int, str]]:
    nodes = [(n.op, n.inputs, tuple(n.span), n.label, n.value) for n in graph.nodes]
    assert [n.id for n in graph.nodes] == list(range(len(graph.nodes)))
    return nodes, graph.output, dict(graph.names)


def reference_flow(nodes: list[tuple[Any, ...]], output: int) -> tuple[list[bool], list[bool]]:
    """Which reference nodes depend on an input, and which of those reach the output."""
    depends: list[bool] = []
    for op, kids, *_ in nodes:
        depends.append(op == "var" or any(depends[k] for k in kids))
    reaches = [False] * len(nodes)
    reaches[output] = True
    for i in range(len(nodes) - 1, -1, -1):
        if reaches[i]:
            for k in nodes[i][1]:
                reaches[k] = True
    return depends, [d and r for d, r in zip(depends, reaches)]


def assert_runs_repeat(graph: Graph) -> None:
    """Each node of a run of a repeated line is the node `count` before it again."""
    nodes = graph.nodes
    assert isinstance(nodes, Columns)
    for first, count, total in nodes.runs:
        for i in range(first, first + total):
            a, b = nodes[i], nodes[i - count]
            assert (a.op, len(a.inputs), graph.names.get(i)) == (
                b.op,
                len(b.inputs),
                graph.names.get(i - count),
            )
            assert graph.source[a.start : a.end] == graph.source[b.start : b.end]


def assert_same_graph(source: str) -> None:
    expected = reference_nodes(parse(source))
    depends, live = reference_flow(expected[0], expected[1])
    for graph in (read_graph(source), build_graph(parse(source))):
        # Each Node made on its own, then all of them at once and kept: the same.
        assert isinstance(graph.nodes, Columns)
        one_by_one = [graph.nodes[i] for i in range(len(graph.nodes))]
        assert list(graph.nodes) == one_by_one and graph.nodes[::-1] == tuple(one_by_one[::-1])
        assert shape(graph) == expected
        assert (list(graph.depends), list(graph.live)) == (depends, live)
        # The names behave as the dict they stand for, also where runs give them.
        named = expected[2]
        assert list(graph.names) == sorted(named) and len(graph.names) == len(named)
        assert [graph.names.get(i) for i in range(len(graph.nodes))] == [
            named.get(i) for i in range(len(graph.nodes))
        ]
        assert [i in graph.names for i in range(-1, len(graph.nodes) + 1)] == [
            i in named for i in range(-1, len(graph.nodes) + 1)
        ]
        assert_runs_repeat(graph)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_read_into_the_reference_graph(path: Path) -> None:
    assert_same_graph(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "x",
        "pi",
        "h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1)\nh",
        "a = x; b = a; b*2",  # a name for a name makes no node: x keeps its own
        "pi = 3; pi*x + e*e",  # a shadowed constant, and a constant twice: two nodes
        "y = 2*pi; x*y; z",  # an input read first in the last statement comes first too
        "-(x)**2 + (((y)))*max(x, y, 1) - pow(x, -2)^3",
        "s = x\ns = s + (x *\n  y)\n# the end\ns",
        # Lines met again are replayed from a record: each shape of line, three times.
        "h = tanh(0.5*h + 0.1)  # step\r\n" * 3 + "h",
        "a = 1; h = h*a\n" * 3 + "h",  # two statements a line
        "h = max(h, -h, pow(h, 2))\n" * 3,  # a trailing newline
        "h = (h +\n 1)\n" * 3 + "h = (h +\n 1)",  # a statement over two lines
        "q = 2*pi + q\n" * 3 + "e = q; e*q",  # constants, then shadowed
        "y = x*x\n" * 3 + "y = x*x",  # the last line has no newline
        "h = h*2\n" * 3 + "\n  h = h*2\n" + "h = h*2\n" * 2 + "# c\nh = h*2\n;h = h*2\nh",
        # Runs of the same line, made in one go: the target read twice, other names,
        # a bare expression, constants, runs of different lines one after another.
        "h = x\n" + "h = h*h + x\n" * 10 + "h",
        "a = 1\n" + "x*2 + a\n" * 6,
        "h = pi*h + e\n" * 6 + "h",
        "h = max(h, y, 2) - log(h)  # c\n" * 7 + "h",
        "h = -h\n" * 5 + "g = g*2\n" * 5 + "h = -h\n" * 5 + "h*g",
        "h = tanh(h)\nk = h*k\n" * 6 + "k",
        "b = a\n" + "a = a + b\n" * 4 + "b = a*b\n" * 4 + "a*b",
        # The output before a run, in it, and after it; a run whose target is not read.
        "h = x\n" + "h = 2*h + y\n" * 8 + "x",
        "h = x\n" + "h = 2*h + y\n" * 8 + "g = h\n" + "h = 3*h\n" * 5 + "g",
        "h = x\n" + "h = 2*h + y\n" * 8 + "h = 2*h + y",
        "h = x\n" + "h = y*y - 1\n" * 8 + "h",
        "h = 1\n" + "h = 2*h + 1\n" * 8 + "h*x",  # nothing in the run depends on an input
        "h = 1\n" + "h = 2*h + 1\n" * 4 + "h = h*x\n" + "h = 2*h + 1\n" * 4 + "h",
        "k = 0*x\n" + "h = 2*h + k\n" * 5 + "k = h\n" + "h = 2*h + k\n" * 5 + "k",
        "u = x\n" + "u = u*2\n" * 6 + "v = u\n" + "u = u*3\n" * 6 + "v",
    ],
)
def test_programs_read_into_the_reference_graph(source: str) -> None:
    assert_same_graph(source)


@given(programs())
@settings(max_examples=examples(200))
def test_generated_programs_read_into_the_reference_graph(program: GenProgram) -> None:
    assert_same_graph(program.source)


# Lines of these shapes, each repeated: runs made in one go, reading names bound
# before the run, in it and never, with aliases, bare expressions and constants.
LINE_SHAPES = [
    "h = tanh(0.5*h + 0.1)",
    "h = h*g + x",
    "g = 2*g",
    "h = x*y",
    "g = max(g, h, 1)",
    "k = h",
    "h = -h",
    "y*2",
    "h = exp(h) + pi",
    "g = h + g*h",
    "h = 1",
]


@st.composite
def run_programs(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        lines += [draw(st.sampled_from(LINE_SHAPES))] * draw(st.integers(1, 8))
    lines.append(draw(st.sampled_from(["h", "g", "x", "h*g", "k", "y", "h = h*g"])))
    return "\n".join(lines)


@given(run_programs())
@settings(max_examples=examples(300))
def test_programs_of_repeated_lines_read_into_the_reference_graph(source: str) -> None:
    assert_same_graph(source)


@given(token_soups())
@settings(max_examples=examples(300))
def test_bad_text_gets_the_same_error_read_or_parsed(text: str) -> None:
    try:
        parse(text)
    except ParseError as err:
        with pytest.raises(ParseError) as read_err:
            read_graph(text)
        assert (read_err.value.message, read_err.value.span) == (err.message, err.span)
        return
    assert shape(read_graph(text)) == reference_nodes(parse(text))


@pytest.mark.parametrize(
    ("source", "message", "span"),
    [
        ("h = h*2\n" * 3 + "h = h*2 2\n", "expected an operator", (32, 33)),
        ("h = h*2\n" * 3 + "h = h*2\u2212 1\n", "unexpected character", (31, 32)),
        ("h = h*2\n" * 3 + "h = 2h\n", "a number cannot run into a name", (28, 30)),
        ("h = sin(h)\n" * 3 + "h = sn(h)\n", "unknown function 'sn'; did you mean sin?", (37, 39)),
    ],
)
def test_an_error_after_repeated_lines_is_where_it_is(
    source: str, message: str, span: tuple[int, int]
) -> None:
    with pytest.raises(ParseError) as err:
        read_graph(source)
    assert message in err.value.message
    assert tuple(err.value.span) == span


@given(st.integers(0, 2**20), st.integers(0, 2**10), st.integers(0, 3_000))
@settings(max_examples=examples(200))
def test_a_progression_is_the_range_it_stands_for(start: int, step: int, count: int) -> None:
    assert progression(start, step, count).tolist() == list(
        range(start, start + step * count, step) if step else [start] * count
    )


@pytest.mark.parametrize(
    ("start", "step", "count"), [(0, 1, 0), (2**31 - 2, 1, 2), (0, 2**30, 2), (5, 0, 4)]
)
def test_a_progression_at_its_edges(start: int, step: int, count: int) -> None:
    assert progression(start, step, count).tolist() == [start + step * k for k in range(count)]


@pytest.mark.parametrize(
    ("start", "step", "count"), [(-1, 1, 3), (0, -1, 3), (2**31 - 1, 1, 2), (0, 2**30, 3)]
)
def test_a_progression_out_of_range_is_refused(start: int, step: int, count: int) -> None:
    with pytest.raises(ValueError):
        progression(start, step, count)


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8, 9, 10, 11])
def test_the_statement_limit_is_met_at_its_statement_in_a_run(limit: int, monkeypatch: Any) -> None:
    # "h = h*2" 11 times, 8 characters a line: statement k + 1 starts at 8k. Past the
    # limit, the next statement is the error (its first token); at 11, none is.
    monkeypatch.setattr(importlib.import_module("backprop.parser.parse"), "MAX_STATEMENTS", limit)
    source = "h = h*2\n" * 11
    if limit >= 11:
        assert len(read_graph(source).nodes) == 1 + 2 * 11
        return
    with pytest.raises(ParseError) as err:
        read_graph(source)
    assert f"the limit is {limit:,}" in err.value.message
    assert tuple(err.value.span) == (8 * limit, 8 * limit + 1)


@pytest.mark.parametrize(
    ("text", "at", "unit", "limit", "copies"),
    [
        ("ab\n" * 10, 0, "ab\n", 100, 10),
        ("ab\n" * 10, 3, "ab\n", 100, 9),
        ("ab\n" * 10, 0, "ab\n", 4, 4),
        ("ab\n" * 10 + "ab", 0, "ab\n", 100, 10),  # the last without its newline
        ("ab\n" * 5 + "ac\n" + "ab\n" * 5, 0, "ab\n", 100, 5),
        ("ab\n" * 1000 + "x", 0, "ab\n", 1000, 1000),
        ("ab\n" * 1000 + "x", 0, "ab\n", 999, 999),
        ("ab\n" * 1000 + "x", 0, "ab\n", 0, 0),
        ("x", 0, "ab\n", 5, 0),
    ],
)
def test_copies_of_a_line_are_counted_one_after_another(
    text: str, at: int, unit: str, limit: int, copies: int
) -> None:
    assert _copies(text, at, unit, limit) == copies


def test_the_node_limit_is_met_at_its_statement_in_a_run(monkeypatch: Any) -> None:
    # 1 input, then 4 nodes a statement (a constant and a product, a constant and a
    # sum): the fifth statement makes node 21, over a limit of 20. It starts at
    # 6 + 4*12 = 54, its value 4 characters in.
    monkeypatch.setattr(importlib.import_module("backprop.engine.build"), "MAX_NODES", 20)
    with pytest.raises(ParseError) as err:
        read_graph("h = x\n" + "h = h*2 + 1\n" * 8)
    assert "over 20 nodes" in err.value.message
    assert tuple(err.value.span) == (58, 65)


def test_a_long_generated_chain_reads_into_the_reference_graph() -> None:
    source = "h = x\n" + "h = tanh(0.5*h + 0.1)\n" * 2_000 + "h\n"
    assert_same_graph(source)
    graph = read_graph(source)
    assert len(graph.nodes) == 10_001
    # The repeated literal is one string and one float, however often it is written.
    halves = [n for n in graph.nodes if n.label == "0.5"]
    assert len(halves) == 2_000
    assert len({id(n.label) for n in halves}) == 1 and len({id(n.value) for n in halves}) == 1


# --- node results made as they are read ----------------------------------------------------


def test_node_results_behave_as_a_tuple_of_every_node() -> None:
    result = evaluate("h1 = tanh(w*x + b)\nh1*h1 + q*0", {"w": 2, "x": 0.5, "b": -1, "q": 3})
    nodes = result.nodes
    assert isinstance(nodes, NodeResults)
    made = tuple(nodes)
    assert len(made) == len(nodes) == 11
    assert [n.id for n in made] == list(range(11))
    assert nodes[-1] == made[-1] and nodes[2:4] == made[2:4] and nodes == made
    assert [n.text for n in made if n.op == "var"] == ["w", "x", "b", "q"]
    named = [n for n in made if n.name]
    assert [(n.name, n.text) for n in named] == [("h1", "tanh(w*x + b)")]
    with pytest.raises(IndexError):
        nodes[11]


# --- the JSON writer --------------------------------------------------------------------------


def generic_json(result: Any) -> str:
    """The document as json.dumps writes it: the layout README "JSON" documents."""

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


@pytest.mark.parametrize(
    ("source", "at", "check"),
    [
        ("(x+y)*z", {"x": -2, "y": 5, "z": -4}, False),
        ("(x+y)*z", {"x": -2, "y": 5, "z": -4}, True),
        ("h = relu(x) + sqrt(y)\nh*u", {"x": 0, "y": 0, "u": 0}, False),  # kink, inf, unused
        ('a = (x # ünïcode "quoted" \\ back\n + 1)\na*2', {"x": 1}, False),  # escapes in text
        ("s = x\n" + "s = s*0.5 + pi\n" * 3_000 + "s", {"x": 1e-300}, False),  # long
        ("h = x\n" + "h = tanh(0.5*h + y)\n" * 5_000 + "h", {"x": 0.3, "y": 0.1}, False),  # a run
        # Negative zeros among zeros, a named constant, three inputs, None among floats.
        ("a = -x\nb = a*y\nk = 2.5\nmax(a, b, x)*k + 0*x", {"x": 0.0, "y": -2.0}, False),
        ("h = x\n" + "h = h*y\n" * 50 + "h", {"x": -0.0, "y": 3.0}, False),
        ("h = x\n" + "h = h*y - 0\n" * 50 + "h*0", {"x": 1.0, "y": -1.0}, False),
    ],
)
def test_json_is_the_documented_dict_written_by_json_dumps(
    source: str, at: dict[str, float], check: bool
) -> None:
    result = evaluate(source, at, check=check)
    text = render_json(result)
    assert text == generic_json(result)
    assert "".join(json_chunks(result, lines=7)) == text
    # The command writes the same text as UTF-8 bytes, made as bytes.
    assert b"".join(json_chunks(result, as_bytes=True)) == text.encode()
    assert b"".join(json_chunks(result, lines=7, as_bytes=True)) == text.encode()


@given(run_programs(), st.floats(-2, 2), st.floats(-2, 2))
@settings(max_examples=examples(100), deadline=None)
def test_json_of_repeated_lines_is_the_documented_dict(source: str, x: float, y: float) -> None:
    values = {"x": x, "y": y, "g": -x, "h": y * 0.5, "k": 0.0}
    point = {name: values[name] for name in read_graph(source).inputs}
    try:
        result = evaluate(source, point, check=False)
    except BackpropError:  # a value out of a gate's domain, or an overflow
        return
    text = generic_json(result)
    assert render_json(result) == text
    assert b"".join(json_chunks(result, lines=5, as_bytes=True)) == text.encode()
    json.loads(text)
