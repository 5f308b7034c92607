"""Coverage-guided fuzzing of the whole path with atheris (libFuzzer for Python).

Each input is split by atheris' FuzzedDataProvider into: a program (ASCII,
UTF-16 or UTF-32 text, so arbitrary Unicode too), how its point is given
(values from a palette of awkward numbers, or `--at` text that goes through
the same parser as the command line), whether the SymPy cross-check runs,
and the table's width and precision. fuzz/harness.py runs it through
evaluate and every renderer (eval's table, JSON and rich table, explain's
text and JSON, graph's tree, DOT, Mermaid and page, with and without a point, and
render_error for errors) and raises on anything that is not a clean
BackpropError; libFuzzer saves the input that did it as crash-<hash>.

    pip install atheris
    mkdir -p /tmp/bp-corpus
    python fuzz/fuzz_eval.py /tmp/bp-corpus fuzz/seeds -dict=fuzz/backprop.dict \\
        -max_total_time=600 -timeout=60 -rss_limit_mb=4096

-max_total_time is in seconds (600: ten minutes); -jobs=2 -workers=2 runs two
in parallel. Reproduce a crash with `python fuzz/fuzz_eval.py crash-<hash>`; with FUZZ_SHOW=1
it prints the program and point it decoded. For a long unattended run, set
FUZZ_FINDINGS=DIR: each distinct failure is saved there (finding-<id> and a
finding-<id>.txt with its traceback) and the run goes on.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import traceback
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["backprop", "harness"]):
    # Modules the CLI imports lazily are imported here, so that they are instrumented.
    import backprop.cli.explain
    import backprop.cli.graph
    import backprop.cli.page
    import backprop.engine.check
    import backprop.engine.draw
    import backprop.engine.explain  # noqa: F401
    import harness
    from backprop.engine.errors import InputError
    from backprop.engine.point import merge, parse_at
    from backprop.parser import BackpropError

# Values that probe domain edges, kinks, overflow and underflow.
PALETTE = [
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, 1e-300, -1e-300, 5e-324,
    1e300, -1e300, 709.78, 710.0, -745.2, 1e16, 0.9999999999999999, 1.0000000000000002,
    3.141592653589793, 1.5707963267948966, 36.0, 1e-8,
]  # fmt: skip


def _point(fdp: atheris.FuzzedDataProvider, source: str) -> dict[str, float] | None:
    names = harness.input_names(source)
    if names is None:
        return {}  # the program does not parse: evaluate reports that
    how = fdp.ConsumeIntInRange(0, 3)
    if how == 0:
        # The --at path: text through the command line's own parser.
        at_text = fdp.ConsumeUnicodeNoSurrogates(64)
        try:
            return merge([], parse_at([at_text]))
        except InputError as err:
            assert isinstance(err, BackpropError)
            return None
    point = {}
    for name in names:
        if how == 1:
            value = fdp.ConsumeRegularFloat()
            point[name] = value if value == value and abs(value) != float("inf") else 1.0
        else:
            point[name] = PALETTE[fdp.ConsumeIntInRange(0, len(PALETTE) - 1)]
    return point


SHOW = os.environ.get("FUZZ_SHOW") == "1"  # print each input's decoded parts
# FUZZ_FINDINGS=DIR: do not stop at the first failure; save the first input
# of each kind (exception type, place, message) there and go on.
FINDINGS = Path(os.environ["FUZZ_FINDINGS"]) if os.environ.get("FUZZ_FINDINGS") else None


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    check = fdp.ConsumeIntInRange(0, 3) == 0  # SymPy is slow: one input in four
    width = fdp.ConsumeIntInRange(20, 200)
    precision = fdp.ConsumeIntInRange(0, 17) or None
    source = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 4096))
    point = _point(fdp, source)
    if point is None:
        return
    if SHOW:
        print(repr(source), point, "check" if check else "no check", width, precision)
    if FINDINGS is None:
        _run(source, point, check, width, precision)
        return
    try:
        _run(source, point, check, width, precision)
    except Exception as err:  # keep going: record the first input of each kind
        _record(data, err)


def _run(
    source: str, point: dict[str, float], check: bool, width: int, precision: int | None
) -> None:
    harness.exercise(source, point, 0.5 if check else None, width, precision)
    harness.structure(source)


def _record(data: bytes, err: Exception) -> None:
    assert FINDINGS is not None
    where = traceback.extract_tb(err.__traceback__)[-1]
    message = re.sub(r"[0-9]+", "N", str(err))[:60]  # "3 ok" and "4 ok" are one kind
    kind = f"{type(err).__name__} {where.filename}:{where.lineno} {message}"
    name = hashlib.sha1(kind.encode()).hexdigest()[:12]
    target = FINDINGS / f"finding-{name}"
    if not target.exists():
        target.write_bytes(data)
        (FINDINGS / f"finding-{name}.txt").write_text(
            kind + "\n\n" + "".join(traceback.format_exception(err))
        )
        print(f"FINDING {name}: {kind}", file=sys.stderr, flush=True)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
