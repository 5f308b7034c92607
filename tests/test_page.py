"""The page (`graph --format html`, `explain --html`) without a browser: its data, its
escaping, its size limit, and what it leaves out of eval's start-up.

The browser tests (tests/test_page_browser.py) play the page in Chromium.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from clirun import ROOT, run

PERCEPTRON_AT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


def page_of(*args: str, tmp: Path, expect: int = 0) -> str:
    path = tmp / "page.html"
    done = run(*args, "-o", str(path), expect=expect)
    assert done.stdout == ""
    return path.read_text(encoding="utf-8")


def embedded(page: str) -> dict:
    """The page's JSON block (its \\u003c escapes are JSON's own)."""
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert found, "no data block"
    return json.loads(found.group(1))


class Tags(HTMLParser):
    """Every start tag, and the text inside <pre class="program">."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.program = ""
        self._in_program = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_program = tag == "pre" and dict(attrs).get("class") == "program"

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_program = False

    def handle_data(self, data: str) -> None:
        if self._in_program:
            self.program += data


def test_the_page_carries_eval_and_explain_json_as_they_are(tmp_path: Path) -> None:
    page = page_of("graph", "-f", "samples/perceptron.bp", tmp=tmp_path)
    data = embedded(page)
    assert data["eval"] == json.loads(run("eval", "-f", "samples/perceptron.bp", "--json").stdout)
    assert data["explain"] == json.loads(
        run("explain", "-f", "samples/perceptron.bp", "--json").stdout
    )
    # The tutorial's numbers (seed): the output and the gradient into the 1/x gate.
    assert data["eval"]["value"] == pytest.approx(0.7310585786300049, rel=1e-12)
    assert data["eval"]["nodes"][13]["grad"] == pytest.approx(-0.534446645388523, rel=1e-12)
    assert data["eval"]["at"] == PERCEPTRON_AT


def test_explain_html_writes_the_same_page_as_graph_format_html(tmp_path: Path) -> None:
    one = page_of("graph", "-f", "samples/fanout.bp", "--format", "html", tmp=tmp_path)
    two = page_of("explain", "-f", "samples/fanout.bp", "--html", tmp=tmp_path)
    assert one == two


def test_without_o_the_page_goes_to_stdout() -> None:
    done = run("explain", "x*x + x", "--at", "x=3", "--html")
    assert done.stdout.startswith("<!DOCTYPE html>")
    assert done.stderr == ""


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    page = page_of("graph", "-f", "samples/perceptron.bp", tmp=tmp_path)
    parser = Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    # The only address is SVG's namespace name, which is never fetched.
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"]
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    assert "default-src 'none'" in page  # and the page forbids itself any fetch


def test_the_perceptron_page_is_tens_of_kilobytes(tmp_path: Path) -> None:
    page = page_of("graph", "-f", "samples/perceptron.bp", tmp=tmp_path)
    size = len(page.encode("utf-8"))
    assert 10_000 < size < 100_000, size


HOSTILE = (
    "# </script><script>window.pwned = 1</script><b>bold</b> & <!-- \u2028\n"
    "x*x + x  # <img src=x onerror=alert(1)>\n"
)


def test_hostile_comments_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.bp"
    path.write_text(HOSTILE, encoding="utf-8")
    page = page_of("graph", "-f", str(path), "--at", "x=3", "--format", "html", tmp=tmp_path)
    parser = Tags()
    parser.feed(page)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "page-data"}, {}]
    assert not [tag for tag, _ in parser.tags if tag in ("b", "img")]
    # The comment is shown as the user wrote it, as text.
    assert "<script>window.pwned = 1</script><b>bold</b> &" in parser.program
    assert "<img src=x onerror=alert(1)>" in parser.program
    # Inside the data block no '<' '>' or '&' is left to end it.
    block = page.split('id="page-data">', 1)[1].split("</script>", 1)[0]
    assert not set("<>&") & set(block)
    assert embedded(page)["eval"]["expression"] == HOSTILE


def test_a_program_with_no_point_needs_one_for_the_page() -> None:
    done = run("graph", "x*y", "--format", "html", expect=2)
    assert "missing a value for x, y" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["explain", "x", "--at", "x=1", "--html", "--json"], "--html and --json"),
        (["explain", "x", "--at", "x=1", "-o", "p.html"], "-o writes the page"),
        (["explain", "x", "--at", "x=1", "--html", "--digits", "30"], "cannot go with --html"),
    ],
)
def test_explain_html_usage_errors(args: list[str], message: str) -> None:
    done = run(*args, expect=2)
    assert message in done.stderr


def test_a_graph_too_large_for_the_page_is_refused() -> None:
    program = "+".join(f"x{k}" for k in range(260))  # 260 inputs and 259 add gates
    done = run("graph", program, "--format", "html", expect=2)
    assert "too large for the page (519 nodes to draw" in done.stderr
    assert "up to 500 nodes" in done.stderr and "backprop explain" in done.stderr


def test_a_page_whose_wires_would_bend_too_often_is_refused() -> None:
    # x is read by each of 120 gates in a chain: its wires cross 0 + 1 + ... + 119
    # columns' worth of bends, 7,140 in all, for only 241 nodes.
    program = "h = x\n" + "\n".join("h = h*x" for _ in range(120))
    done = run("graph", program, "--at", "x=1", "--format", "html", expect=2)
    assert "(121 nodes to draw and 7140 wire bends" in done.stderr


def test_layout_puts_inputs_left_and_the_output_right() -> None:
    from backprop.engine import draw, evaluate
    from backprop.engine.explain import explain
    from backprop.engine.layout import lay_out

    result = evaluate((ROOT / "samples/perceptron.bp").read_text(), PERCEPTRON_AT, check=False)
    drawing = draw.from_explanation(result, explain(result))
    layout = lay_out(drawing)
    x = {box.id: box.x for box in layout.boxes}
    inputs = [n.id for n in drawing.nodes if n.kind == "input"]
    assert {x[i] for i in inputs} == {min(x.values())}
    assert x[drawing.output] == max(x.values())
    # The constants 1 are drawn inside their gates' names (+1, 1/x), not as boxes.
    assert sorted(x) == [0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14]
    # Inputs in program order, top to bottom.
    ys = [next(b.y for b in layout.boxes if b.id == i) for i in inputs]
    assert ys == sorted(ys)


@pytest.mark.parametrize("sample", ["fanout", "relu_max", "staged", "tanh_neuron", "perceptron"])
def test_no_wire_runs_through_a_box(sample: str) -> None:
    from backprop.engine import draw, evaluate
    from backprop.engine.explain import explain
    from backprop.engine.layout import lay_out
    from backprop.engine.point import defaults

    source = (ROOT / f"samples/{sample}.bp").read_text()
    result = evaluate(source, dict(defaults(source)), check=False)
    layout = lay_out(draw.from_explanation(result, explain(result)))
    for wire in layout.wires:
        # Every straight piece (a bend through a column, the end at the gate).
        for (ax, ay), (bx, by) in zip(wire.points[1::2], wire.points[2::2]):
            assert ay == by
            for box in layout.boxes:
                crosses = ax < box.x + box.width and box.x < bx
                inside = box.y < ay < box.y + box.height
                touching_its_gate = bx == box.x  # the wire's end meets its gate's port
                assert not (crosses and inside and not touching_its_gate), (sample, wire, box)
    # Boxes of a column never overlap.
    for a in layout.boxes:
        for b in layout.boxes:
            if a.id < b.id and a.x == b.x:
                assert a.y + a.height <= b.y or b.y + b.height <= a.y


def test_a_long_sum_of_products_is_laid_out_compactly() -> None:
    from backprop.engine import draw
    from backprop.engine.build import build_graph
    from backprop.engine.layout import count_points, lay_out
    from backprop.parser import parse

    # In the tutorial's layout each product's wire would bend through the columns
    # of the sum: 0 + 1 + ... + 58 = 1,711 bends for 239 nodes. Compact: none.
    program = "+".join(f"w{k}*x{k}" for k in range(60))
    drawing = draw.from_graph(build_graph(parse(program)))
    assert count_points(drawing) == (239, 0)
    layout = lay_out(drawing)
    x = {box.id: box.x for box in layout.boxes}
    for node in drawing.nodes:
        if node.op == "mul":  # its inputs stand in the column just left of it
            (left,) = {x[j] for j in node.inputs}
            assert left < x[node.id]
            assert not [i for i in x if left < x[i] < x[node.id]]


def test_kinks_and_flat_inputs_are_marked(tmp_path: Path) -> None:
    # relu at 0 and a tie in max are kinks; relu is flat at and below 0 (the
    # table's rule: nothing flows back), so in x here and in z; a tie is not flat.
    page = page_of(
        "explain",
        "relu(x)*max(x, y) + relu(z)*x",
        "--at",
        "x=0,y=0,z=-1",
        "--html",
        tmp=tmp_path,
    )
    assert page.count('class="node gate kink"') == 2  # relu(x) and max(x, y)
    assert page.count('class="wire flat"') == 2  # x into relu(x), z into relu(z)
    assert '<text class="lbl mark"' in page
    details = {d["text"]: d for d in embedded(page)["details"]}
    assert "relu is not differentiable at 0" in details["relu(x)"]["kink"]
    assert details["relu(z)"]["kink"] == ""


EVAL_IMPORTS = """
import sys
from backprop.cli.main import main
sys.argv = ["backprop", "eval", "x*y", "--at", "x=1,y=2", "--no-check"]
try:
    main()
except SystemExit:
    pass
names = ("backprop.cli.page", "backprop.engine.layout", "backprop.engine.marks", "playwright")
sys.stderr.write(repr(sorted(n for n in names if n in sys.modules)))
"""


def test_eval_imports_nothing_of_the_page() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EVAL_IMPORTS], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[]"


AWKWARD = [
    ("2*3", ""),  # no inputs: no gradient anywhere
    ("x", "x=2"),  # the output is the input itself
    ("y = x*2; x", "x=-1"),  # a statement that does not reach the output reads it
    ("2*pi*x", "x=1"),  # a constant sub-expression drawn as a gate with no gradient
    ("sqrt(relu(x))", "x=-1"),  # flat under an infinite gradient
    ("sqrt(x)*0 + x", "x=0"),  # an infinite local derivative: null in JSON, inf here
    ("max(x, x, 2) + min(2, 2, x)", "x=2"),  # ties, some between constants
    ("where(x, x, 2)*sign(x)", "x=0.5"),
    ("h1 = tanh(w*x + b)\nh2 = h1*h1\nout = h2 - h1", "w=0.5,x=-1,b=0.25"),
]


@pytest.mark.parametrize("program, at", AWKWARD)
def test_awkward_programs_make_pages(program: str, at: str, tmp_path: Path) -> None:
    args = ["--at", at] if at else []
    page = page_of("graph", program, *args, "--format", "html", tmp=tmp_path)
    data = embedded(page)
    assert data["eval"] == json.loads(run("eval", program, *args, "--json").stdout)
    shown = {int(n) for n in re.findall(r'<g id="n(\d+)" class="node', page)}
    drawn = [d["id"] for d in data["details"] if d["op"] != "const" or d["id"] in shown]
    assert shown == set(drawn)
    # Every number on the picture is one of the engine's, or a word for a non-finite one.
    for full in re.findall(r'data-num="([^"]*)"', page):
        assert full in ("inf", "-inf", "nan") or float(full) == float(full)
    assert data["steps"][0]["kind"] == "start" and data["steps"][-1]["kind"] == "end"
