"""The page in a real browser: headless Chromium (Debian's package) driven by Playwright.

Each test opens a page written by `backprop graph ... -o FILE.html` from a
file URL, steps through it with the keyboard, and compares what is shown
with `backprop eval --json` and `backprop explain`. Playwright cannot
download its own browsers on these machines, so the tests launch the system
Chromium (`apt-get install chromium`; .ci/run installs it). They skip, with
the reason, only where Playwright or Chromium is missing.

A screenshot of the perceptron page at its last step is written to
tests/artifacts/ (git ignores it) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backprop.cli.numbers import number
from clirun import ROOT, run

CHROMIUM = os.environ.get("BACKPROP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
PRECISION = 4  # the page's default digits on the picture, as explain's


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[test]'")
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or set BACKPROP_CHROMIUM"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pages, written once by the command line."""
    folder = tmp_path_factory.mktemp("pages")
    written = {}
    for sample in ("perceptron", "fanout"):
        path = folder / f"{sample}.html"
        done = run("graph", "-f", f"samples/{sample}.bp", "-o", str(path))
        assert done.stderr.startswith(f"wrote {path}:")
        written[sample] = path
    return written


class Opened:
    """A page opened from its file URL, with every request it made."""

    def __init__(self, browser: Any, path: Path, dark: bool = False) -> None:
        self.context = browser.new_context(
            viewport={"width": 1300, "height": 950}, color_scheme="dark" if dark else "light"
        )
        self.page = self.context.new_page()
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: (self.errors.append("dialog"), dialog.dismiss()))
        # Anything but the file itself would be a network request: refuse it.
        self.page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url == self.url else route.abort(),
        )
        self.page.goto(self.url)

    def close(self) -> None:
        self.context.close()

    def data(self) -> dict[str, Any]:
        return self.page.evaluate("JSON.parse(document.getElementById('page-data').textContent)")

    def labels(self) -> list[dict[str, Any]]:
        """Every number of the picture: its text, full value, where it is, and if visible."""
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('#graph .lbl:not(.mark)')).map(t => ({
                kind: ['val', 'grad', 'ngrad'].find(c => t.classList.contains(c)),
                text: t.textContent, num: t.dataset.num, node: +t.dataset.node,
                target: t.dataset.target === undefined ? null : +t.dataset.target,
                pos: t.dataset.pos === undefined ? null : +t.dataset.pos,
                output: t.dataset.output === '1',
                visible: getComputedStyle(t).visibility === 'visible'}))"""
        )

    def counter(self) -> str:
        return self.page.inner_text("#counter")

    def sentence(self) -> str:
        return self.page.inner_text("#sentence")


@pytest.fixture
def opened(browser: Any, pages: dict[str, Path]) -> Iterator[Any]:
    made: list[Opened] = []

    def open_page(sample: str, dark: bool = False) -> Opened:
        page = Opened(browser, pages[sample], dark)
        made.append(page)
        return page

    yield open_page
    for page in made:
        assert page.errors == [], page.errors
        assert page.requests == [page.url], page.requests  # no network, nothing else
        page.close()


def explain_blocks(sample: str) -> dict[int, str]:
    """`backprop explain`'s plain text, one block per backward step, by its node id."""
    text = run("explain", "-f", f"samples/{sample}.bp").stdout
    blocks = {}
    for block in text.split("\n\n"):
        if block.startswith("step "):
            node = int(block.split("[", 1)[1].split("]", 1)[0])
            blocks[node] = block.strip("\n")
    return blocks


def play_through(page: Opened, sample: str) -> int:
    """Step with the keyboard from the first step to the last, checking every number shown."""
    doc = json.loads(run("eval", "-f", f"samples/{sample}.bp", "--json").stdout)
    steps = json.loads(run("explain", "-f", f"samples/{sample}.bp", "--json").stdout)
    values = {node["id"]: node["value"] for node in doc["nodes"]}
    grads = {node["id"]: node["grad"] for node in doc["nodes"]}
    # What each gate sent back, by (gate, input position among the variable inputs).
    sent = {step["id"]: [send["grad"] for send in step["sends"]] for step in steps["backward"]}
    blocks = explain_blocks(sample)
    plan = page.data()["steps"]
    assert [s["node"] for s in plan if s["kind"] == "backward"] == [
        s["id"] for s in steps["backward"]
    ]
    done_forward: set[int] = set()
    done_backward: set[int] = set()
    page.page.keyboard.press("Home")
    for k, step in enumerate(plan):
        if k:
            page.page.keyboard.press("ArrowRight")
        assert page.counter().startswith(f"step {k + 1} of {len(plan)}")
        if step["kind"] == "forward":
            done_forward.add(step["node"])
        if step["kind"] == "backward":
            done_backward.add(step["node"])
            assert page.sentence().strip("\n") == blocks[step["node"]]
        shown = [label for label in page.labels() if label["visible"]]
        for label in page.labels():
            node = label["node"]
            if label["kind"] == "val":
                expected = values[node]
                assert label["visible"] == (node in done_forward), (k, label)
            elif label["output"]:
                expected = grads[node]  # d out/d out = 1
                assert label["visible"] == bool(done_backward), (k, label)
            elif label["kind"] == "grad":
                expected = sent[label["target"]][_variable_position(doc, label)]
                assert label["visible"] == (label["target"] in done_backward), (k, label)
            else:
                expected = grads[node]
            assert float(label["num"]) == expected, (k, label)
            assert label["text"].removeprefix("grad ") == number(expected, PRECISION), (k, label)
        if step["kind"] == "end":
            assert all(label["visible"] for label in page.labels())
            assert "Gradients of the inputs" in page.sentence()
        if k == 0:
            assert shown == []
    return len(plan)


def _variable_position(doc: dict[str, Any], label: dict[str, Any]) -> int:
    """The label's input position among the gate's inputs that get a gradient."""
    inputs = doc["nodes"][label["target"]]["inputs"][: label["pos"]]
    return sum(1 for j in inputs if doc["nodes"][j]["grad"] is not None)


def test_perceptron_steps_show_evals_numbers(opened: Any) -> None:
    page = opened("perceptron")
    count = play_through(page, "perceptron")
    # The start, 13 drawn nodes (the two constants 1 are inside +1 and 1/x), the
    # 8 gates of the backward pass (the seed's walk), and the inputs' gradients.
    assert count == 1 + 13 + 8 + 1
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "perceptron-last-step.png"
    page.page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the perceptron page at its last step: {shot}")
    # The seed's numbers, on the picture: the 1/x gate's input gets -0.53.
    texts = {(lab["kind"], lab["target"]): lab["text"] for lab in page.labels()}
    assert texts[("grad", 14)] == "-0.5344"


def test_fanout_gradients_add_up_along_each_use(opened: Any) -> None:
    page = opened("fanout")
    play_through(page, "fanout")
    labels = page.labels()
    # x*x + x at x = 3: x sends back 3 and 3 through the product and 1 through the
    # sum, and its gradient is 2x + 1 = 7 (by hand).
    along = sorted(float(lab["num"]) for lab in labels if (lab["kind"], lab["node"]) == ("grad", 0))
    assert along == [1.0, 3.0, 3.0]
    total = [lab for lab in labels if lab["kind"] == "ngrad" and lab["node"] == 0]
    assert [lab["text"] for lab in total] == ["grad 7"]


def test_clicking_a_node_shows_its_details(opened: Any) -> None:
    page = opened("perceptron")
    doc = json.loads(run("eval", "-f", "samples/perceptron.bp", "--json").stdout)
    for node in doc["nodes"]:
        if node["op"] == "const":
            continue  # drawn inside its gate's name
        page.page.click(f"#n{node['id']}")
        details = page.page.locator("#details-body")
        assert float(details.locator(".value").inner_text()) == node["value"]
        assert float(details.locator(".gradient").inner_text()) == node["grad"]
        assert details.locator(".verdict").inner_text() == node["verdict"]
        assert float(details.locator(".sympy").inner_text()) == node["sympy_grad"]
    # The 1/x gate: its local derivative as a formula and a number.
    page.page.click("#n14")
    local = page.page.locator("#details-body .local").all_inner_texts()
    assert len(local) == 1 and local[0].startswith("d/d[13] = -1/[13]^2 = -0.53444")
    assert "1/x gate" in page.page.inner_text("#details-body h3")


def test_keyboard_reaches_nodes_and_jumps(opened: Any) -> None:
    page = opened("perceptron")
    # Tab from the node menu onto the picture: the first node gets focus and shows.
    page.page.focus("#jump")
    page.page.keyboard.press("Tab")
    assert page.page.evaluate("document.activeElement.id") == "n0"
    assert "input w0" in page.page.inner_text("#details-body h3")
    page.page.select_option("#jump", "12")
    assert page.page.evaluate("document.activeElement.id") == "n12"
    assert "exp gate" in page.page.inner_text("#details-body h3")
    page.page.get_by_role("button", name="show its backward step").click()
    assert "the exp gate" in page.page.inner_text("#step-title")
    page.page.keyboard.press("End")
    assert page.counter().startswith("step 23 of 23")
    page.page.keyboard.press("ArrowLeft")
    assert page.counter().startswith("step 22 of 23")


def test_play_and_pause(opened: Any) -> None:
    page = opened("fanout")
    page.page.click("#play")
    assert page.page.get_attribute("#play", "aria-pressed") == "true"
    # Its first step comes after 1.1 s (polled here: the page's policy forbids eval).
    for _ in range(40):
        if not page.counter().startswith("step 1 of"):
            break
        page.page.wait_for_timeout(100)
    assert page.counter().startswith("step 2 of")
    page.page.click("#play")
    assert page.page.get_attribute("#play", "aria-pressed") == "false"
    paused = page.counter()
    page.page.wait_for_timeout(1300)
    assert page.counter() == paused


def test_dark_scheme(opened: Any) -> None:
    light = opened("perceptron")
    dark = opened("perceptron", dark=True)
    background = "getComputedStyle(document.body).backgroundColor"
    assert light.page.evaluate(background) == "rgb(255, 255, 255)"
    assert dark.page.evaluate(background) == "rgb(23, 24, 27)"
    dark.page.keyboard.press("End")
    ARTIFACTS.mkdir(exist_ok=True)
    dark.page.screenshot(path=str(ARTIFACTS / "perceptron-last-step-dark.png"), full_page=True)


HOSTILE = "# </script><script>window.pwned = 1; alert(1)</script>\nx*x + x\n"


def test_hostile_comment_is_shown_as_text(browser: Any, tmp_path: Path) -> None:
    source = tmp_path / "hostile.bp"
    source.write_text(HOSTILE, encoding="utf-8")
    path = tmp_path / "hostile.html"
    run("graph", "-f", str(source), "--at", "x=3", "-o", str(path))
    page = Opened(browser, path)
    try:
        assert page.page.evaluate("typeof window.pwned") == "undefined"
        assert page.page.inner_text("pre.program").startswith("# </script><script>window.pwned")
        assert page.page.evaluate("document.scripts.length") == 2
        assert page.errors == []
        assert page.requests == [page.url]
    finally:
        page.close()
