"""Golden files: what `backprop` prints, byte for byte, one scenario per file.

Each tests/golden/<what_it_shows>.txt reads as a transcript:

    # what the scenario shows
    # args: eval -f samples/circuit.bp --json      (shell-quoted, after `backprop`)
    # stdin: x*y                                   (optional; one line each)
    --- stdout
    ...
    --- stderr
    ...
    --- exit
    0

The scenarios are listed below; the files are their recorded output.
`python -m pytest tests/test_golden.py --update-golden` rewrites every file
from the current output, and `git diff tests/golden` is the review: check
each changed number against the seed, SPEC.md or a hand derivation before
committing. Without the flag a missing, changed or stray file fails.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import run

GOLDEN = Path(__file__).resolve().parent / "golden"
NO_NEWLINE = "\\ no newline at end"


@dataclass(frozen=True)
class Scenario:
    name: str  # the file name: what it shows
    shows: str  # one line for the reader of the file
    args: str  # shell-quoted, after `backprop`
    stdin: str | None = None  # each line ends with a newline
    exit: int = 0


SAMPLES = {
    "circuit": "the seed's circuit (x+y)*z: value -12, gradients x -4, y -4, z 3",
    "perceptron": "the seed's perceptron: value 0.731, gradient -0.534 into the 1/x gate",
    "staged": "CS231n's staged example: named intermediate steps, x fans out to three uses",
    "tanh_neuron": "a tanh neuron at 1 - o**2 = 0.5: gradients x1 -1.5, w1 1, x2 0.5, w2 0, b 0.5",
    "relu_max": "relu passes, max routes to its winner x: gradients w 9, x 11, b 3, y 0",
    "fanout": "x*x + x at 3: the three uses of x add up to gradient 2x + 1 = 7",
}

SCENARIOS = [
    *(
        Scenario(f"{name}_table", f"{shows}", f"eval -f samples/{name}.bp")
        for name, shows in SAMPLES.items()
    ),
    *(
        Scenario(f"{name}_json", f"{shows}; as strict JSON", f"eval -f samples/{name}.bp --json")
        for name, shows in SAMPLES.items()
    ),
    *(
        Scenario(
            f"{name}_no_check",
            f"{shows}; without the SymPy columns",
            f"eval -f samples/{name}.bp --no-check",
        )
        for name, shows in SAMPLES.items()
    ),
    Scenario(
        "precision_4",
        "--precision 4 rounds the table to 4 significant digits (JSON never rounds)",
        "eval -f samples/perceptron.bp --precision 4",
    ),
    Scenario(
        "at_overrides_sample_point",
        "--at overrides the sample's '# at:' line for the names it gives: z=2 makes the output 6",
        "eval -f samples/circuit.bp --at z=2 --no-check",
    ),
    Scenario(
        "program_starting_with_dash",
        "a program that starts with '-' goes after '--'; -x**2 is -(x**2)",
        "eval --at x=3 -- -x**2",
    ),
    Scenario(
        "stdin_program",
        "'-' reads the program from standard input",
        "eval - --at x=1.5,y=-2 --no-check",
        stdin="x*y\n",
    ),
    Scenario(
        "kink_relu_at_zero",
        "relu at 0 is not differentiable: PyTorch's rule (local derivative 0), a note, "
        "and check n/a rather than a mismatch",
        "eval 'relu(x - 1) * y' --at x=1,y=2",
    ),
    Scenario(
        "kink_relu_at_zero_json",
        "the same kink in JSON: verdict n/a with its reason, the note on the relu node",
        "eval 'relu(x - 1) * y' --at x=1,y=2 --json",
    ),
    Scenario(
        "nonfinite_gradient_sqrt_at_zero",
        "sqrt at 0: the value is finite but the gradient is +inf; a note says so, exit 0",
        "eval 'sqrt(x)' --at x=0",
    ),
    Scenario(
        "nonfinite_gradient_sqrt_at_zero_json",
        "the same in strict JSON: the infinite gradient is null, the note says +inf",
        "eval 'sqrt(x)' --at x=0 --json",
    ),
    Scenario(
        "inaccurate_cancellation",
        "(1-cos(x))/x^2 at 1e-5: float64 cancellation makes the gradient 1e4 times the exact "
        "-8.33e-07; verdict inaccurate with the exact value, exit 1",
        "eval '(1-cos(x))/x^2' --at x=1e-5",
        exit=1,
    ),
    Scenario(
        "inaccurate_cancellation_json",
        "the same in JSON: check.status inaccurate, counts per verdict and per method",
        "eval '(1-cos(x))/x^2' --at x=1e-5 --json",
        exit=1,
    ),
    Scenario(
        "inaccurate_overflow",
        "1/x at 1e-200: the gradient -1e400 overflows float64 to -inf; inaccurate, exit 1",
        "eval '1/x' --at x=1e-200",
        exit=1,
    ),
    Scenario(
        "strict_kink",
        "--strict: a kink's n/a is not proof, exit 1",
        "eval 'relu(x - 1) * y' --at x=1,y=2 --strict",
        exit=1,
    ),
    Scenario(
        "error_syntax_caret",
        "a syntax error says what was expected and points at the column",
        "eval '1/(1+exp(-x)' --at x=1",
        exit=2,
    ),
    Scenario(
        "error_unknown_function_suggestion",
        "an unknown function suggests the closest known one",
        "eval 'sigmod(x)' --at x=1",
        exit=2,
    ),
    Scenario(
        "error_implicit_multiplication",
        "2x explains that multiplication is written 2*x",
        "eval 2x --at x=1",
        exit=2,
    ),
    Scenario(
        "error_missing_at_value",
        "an input without a value is named, and the inputs are listed",
        "eval 'x*y' --at x=1",
        exit=2,
    ),
    Scenario(
        "error_unknown_at_name",
        "a --at name that is not an input is named, and the inputs are listed",
        "eval 'x*y' --at x=1,y=2,z=3",
        exit=2,
    ),
    Scenario(
        "error_at_name_twice",
        "a name given twice in --at is an error",
        "eval 'x*y' --at x=1 --at x=2,y=3",
        exit=2,
    ),
    Scenario(
        "error_at_nan",
        "--at values are finite decimal numbers: nan is refused, whatever float() accepts",
        "eval 'x*y' --at x=nan,y=1",
        exit=2,
    ),
    Scenario(
        "error_domain_log_zero",
        "a domain error points at the gate's whole sub-expression",
        "eval 'y = log(x - 1) * 2' --at x=1",
        exit=2,
    ),
    Scenario(
        "error_multiline_line_number",
        "in a program of several lines the error names its line",
        "eval - --at x=2",
        stdin="# two steps\na = x * 2\nb = sqrt(a - 5)\nb + 1\n",
        exit=2,
    ),
    Scenario(
        "error_unreadable_file",
        "a file that cannot be read is bad input (exit 2), not a traceback",
        "eval -f samples/no_such_file.bp",
        exit=2,
    ),
    Scenario(
        "error_program_and_file",
        "a program given both as an argument and with -f is a usage error",
        "eval 'x*y' -f samples/circuit.bp",
        exit=2,
    ),
]

# explain and graph list their scenarios in tests/learning_scenarios.py (plain data).
from learning_scenarios import LEARNING_SCENARIOS  # noqa: E402

SCENARIOS += [Scenario(**fields) for fields in LEARNING_SCENARIOS]
from second_order_scenarios import SECOND_ORDER  # noqa: E402

SCENARIOS += [Scenario(**fields) for fields in SECOND_ORDER]


def render_golden(scenario: Scenario, stdout: str, stderr: str, exit_code: int) -> str:
    """The golden file's text for one scenario and what it printed."""
    lines = [f"# {scenario.shows}", f"# args: {scenario.args}"]
    if scenario.stdin is not None:
        assert scenario.stdin.endswith("\n"), "a scenario's stdin ends with a newline"
        lines += [f"# stdin: {line}" for line in scenario.stdin[:-1].split("\n")]
    header = "\n".join(lines) + "\n"
    return (
        header
        + _section("stdout", stdout)
        + _section("stderr", stderr)
        + f"--- exit\n{exit_code}\n"
    )


def _section(name: str, text: str) -> str:
    if text and not text.endswith("\n"):
        text += f"\n{NO_NEWLINE}\n"
    return f"--- {name}\n{text}"


def test_scenario_names_are_unique() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))


def test_no_stray_golden_files(update_golden: bool) -> None:
    known = {f"{s.name}.txt" for s in SCENARIOS}
    stray = sorted(p.name for p in GOLDEN.glob("*.txt") if p.name not in known)
    if update_golden:
        for name in stray:
            (GOLDEN / name).unlink()
        return
    assert not stray, f"golden files with no scenario (remove them or add one): {stray}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_golden(scenario: Scenario, update_golden: bool) -> None:
    done = run(*shlex.split(scenario.args), stdin=scenario.stdin, expect=scenario.exit)
    actual = render_golden(scenario, done.stdout, done.stderr, done.exit_code)
    path = GOLDEN / f"{scenario.name}.txt"
    if update_golden:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    assert path.exists(), f"{path.name} is missing: run pytest --update-golden and review it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{path.name} differs: if the change is intended, run "
        "`python -m pytest tests/test_golden.py --update-golden` and review `git diff tests/golden`"
    )
