"""The whole path under one function: text -> evaluate -> every renderer.

`exercise(source, point, check_seconds)` runs a program the way the CLI
does and feeds the result (or the error) to every renderer that exists. It
raises only when something is wrong with backprop itself:

- an exception that is not a BackpropError (a crash: exit 3 for a user);
- a renderer that fails, or JSON that is not strict or not as documented;
- a cross-check "mismatch" (a wrong number, or a check that is wrong).

The atheris driver (fuzz_eval.py) and the regression tests
(tests/test_fuzz_regressions.py) both call it; it needs no atheris.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backprop.cli import render
from backprop.engine import Result, evaluate
from backprop.engine.build import build_graph
from backprop.engine.check import INTERNAL_ERROR
from backprop.parser import BackpropError, parse

SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "eval.schema.json"


def _strict(token: str) -> float:
    raise AssertionError(f"JSON has a non-finite number token {token}")


def _validator() -> Callable[[Any], None] | None:
    """The JSON Schema check, when the schema and jsonschema are there."""
    try:
        import jsonschema
    except ImportError:
        return None
    if not SCHEMA.exists():
        return None
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema).validate


_VALIDATE: list[Callable[[Any], None] | None] = []


def validate_json(text: str) -> dict[str, Any]:
    """Parse `text` strictly and check it against the schema."""
    document = json.loads(text, parse_constant=_strict)
    if not _VALIDATE:
        _VALIDATE.append(_validator())
    check = _VALIDATE[0]
    if check is not None:
        check(document)
    return document


def _draw(out: Any, width: int = 100) -> str:
    """Text as is; a rich renderable drawn to a string, as a terminal would get it."""
    if isinstance(out, str):
        return out
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system="standard")
    console.print(out)
    return buffer.getvalue()


def render_all(result: Result, width: int = 100, precision: int | None = None) -> None:
    """Every renderer of a Result; raises AssertionError on a broken document."""
    plain = render.render_plain(result, precision)
    assert "\x1b" not in plain, "plain output has an escape code"
    assert plain.endswith("\n")
    document = validate_json(render.render_json(result))
    assert len(document["nodes"]) == len(result.nodes)
    assert document["value"] == result.value
    _draw(render.render_rich(result, precision, width), width)
    _explain_and_graph(result, width, precision)


def _explain_and_graph(result: Result, width: int, precision: int | None) -> None:
    """The renderers of `backprop explain` and `backprop graph`, as their commands call them."""
    from backprop.cli import explain as explain_cli
    from backprop.cli import graph as graph_cli
    from backprop.engine import draw
    from backprop.engine.explain import explain

    doc = explain(result)
    lines = explain_cli.explain_lines(doc, precision)
    assert "\x1b" not in explain_cli.render_plain(lines)
    _draw(explain_cli.render_rich(lines), width)
    json.loads(explain_cli.render_json(doc), parse_constant=_strict)
    drawing = draw.from_explanation(result, doc)
    graph_cli.render_dot(drawing, precision)
    graph_cli.render_mermaid(drawing, precision)
    _page(result, doc, drawing, precision)
    try:
        graph_cli.check_text_size(drawing)
    except BackpropError:
        return  # too large for a text tree: the command says so (exit 2)
    for unicode in (False, True):
        graph_cli.tree_lines(drawing, precision, unicode=unicode)


def _page(result: Result, doc: Any, drawing: Any, precision: int | None) -> None:
    """The page of `graph --format html`: its own two scripts and nothing else."""
    from backprop.cli import page as page_cli

    try:
        page_cli.check_page_size(drawing)
    except BackpropError:
        return  # too large for the page: the command says so (exit 2)
    html = page_cli.render_page(result, doc, drawing, precision)
    assert html.count("<script") == 2, "user text opened a script"
    html.encode("utf-8")  # strict: no lone surrogate


def exercise(
    source: str,
    point: Mapping[str, float] | None = None,
    check_seconds: float | None = 0.5,
    width: int = 100,
    precision: int | None = None,
) -> Result | BackpropError:
    """Run `source` at `point` through evaluate and every renderer.

    check_seconds None skips the cross-check. Returns the result or the
    (expected) BackpropError; anything else propagates.
    """
    try:
        result = evaluate(
            source,
            point or {},
            check=check_seconds is not None,
            check_seconds=check_seconds,
        )
    except BackpropError as err:
        text = render.render_error(source, err)
        assert text.startswith("error: ") and text.endswith("\n"), text
        assert text.count("\n") <= 3, f"an error message runs over three lines: {text!r}"
        return err
    for node in result.nodes:
        assert math.isfinite(node.value), f"node {node.id} has value {node.value}"
    assert result.check.status != "mismatch", f"cross-check mismatch: {result.check.message}"
    for node in result.nodes:  # the check turns its own failures into "not checked"
        assert INTERNAL_ERROR not in node.reason, node.reason
    render_all(result, width, precision)
    return result


def structure(source: str) -> None:
    """`backprop graph` without a point: the structure alone, in every format."""
    from backprop.cli import graph as graph_cli
    from backprop.engine import draw

    try:
        drawing = draw.from_graph(build_graph(parse(source)))
    except BackpropError:
        return
    graph_cli.render_dot(drawing)
    graph_cli.render_mermaid(drawing)
    try:
        graph_cli.check_text_size(drawing)
    except BackpropError:
        return
    graph_cli.tree_lines(drawing)


def input_names(source: str) -> list[str] | None:
    """The program's inputs in order, or None when it does not parse."""
    try:
        return list(build_graph(parse(source)).inputs)
    except BackpropError:
        return None
