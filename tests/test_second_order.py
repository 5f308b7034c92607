"""Second derivatives, forward mode and several outputs, against independent references.

The Hessian (forward mode over the reverse-mode graph) is held to SymPy's
second derivatives of the program, built here from the gate table's `sympy`
column (never from the vjp rules the engine runs) and evaluated exactly at
the point's floats; directional derivatives to the gradient's dot product
with the direction; Jacobians to the stacked gradients of `eval --output`;
the N-th derivative of tanh to SymPy's.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import sympy as sp
from backprop.engine import evaluate
from backprop.engine.build import build_graph
from backprop.engine.gates import GATES
from backprop.engine.gradient import gradient_program
from backprop.engine.hessian import classify, eigenvalues_of, hessian, jacobi_eigenvalues
from backprop.engine.higher import nth_derivative
from backprop.engine.jacobian import jacobian
from backprop.engine.point import defaults
from backprop.parser import BackpropError, parse
from clirun import ROOT, run

UNARY = {
    "exp": 0.7, "log": 1.7, "log1p": 0.4, "expm1": -0.6, "log2": 2.5, "log10": 3.3,
    "sqrt": 2.2, "sin": 0.9, "cos": -1.2, "tan": 0.5, "asin": 0.3, "acos": -0.4,
    "atan": 1.9, "erf": 0.6, "sinh": -0.8, "cosh": 1.1, "tanh": 0.5, "sigmoid": -1.3,
    "softplus": 0.8, "relu": 1.4, "abs": -2.1, "dtanh": 0.35, "dsigmoid": -0.7,
    "derf": 0.45, "sign": -0.5,
}  # fmt: skip
BINARY = {
    "x + y": (1.2, -0.7), "x - y": (0.3, 2.0), "x * y": (-1.5, 0.8), "x / y": (1.3, -0.6),
    "x ^ y": (1.4, 2.3), "pow(x, y)": (0.6, -1.5), "atan2(x, y)": (0.7, -1.1),
    "hypot(x, y)": (-0.9, 1.6), "-x * +y": (0.4, 0.5),
}  # fmt: skip
COMPOSED = {
    "sin(x*y) + exp(x - y)": {"x": 0.4, "y": -0.3},
    "log(1 + x^2 + y^2)": {"x": 0.7, "y": 1.2},
    "x^3*y - 2*x*y^2 + y^4": {"x": 1.1, "y": -0.6},
    "tanh(w*x + b)^2": {"w": 0.8, "x": -1.2, "b": 0.3},
    "sigmoid(x) * softplus(y) / (1 + z^2)": {"x": 0.2, "y": -0.9, "z": 1.4},
    "sqrt(x*x + y*y + 1) * atan(x/y)": {"x": 0.6, "y": 1.3},
    "logsumexp(x, y, x*y)": {"x": 0.5, "y": -0.4},
    "max(x*y, x + y, 0.1)": {"x": 1.5, "y": 2.0},
    "min(x, y) * max(x, y)": {"x": 0.3, "y": 1.2},
    "relu(x*y - 1) + abs(x - 2*y)": {"x": 2.0, "y": 0.9},
    "where(x - y, x^2, y^3)": {"x": 1.5, "y": 0.5},
    "erf(x)*cos(y) + asin(x*y)": {"x": 0.3, "y": 0.8},
    "cosh(x)/sinh(y) + log2(x) - log10(y)": {"x": 1.3, "y": 0.7},
    "expm1(x*y) + log1p(x - y)": {"x": 0.2, "y": -0.5},
    "x^y + y^x": {"x": 1.7, "y": 0.8},
    "exp(-(x^2 + y^2)/2) * (x - y)": {"x": 0.3, "y": -1.1},
    "hypot(x, y) * atan2(y, x)": {"x": -0.5, "y": 0.9},
    "1/(1 + exp(-(w0*x0 + w1*x1 + w2)))": {"w0": 0.5, "x0": 1.5, "w1": -1.0, "x1": 0.3, "w2": 0.2},
    # rebinding and fan-out
    "h = tanh(0.5*h + 0.1); h = tanh(0.5*h + 0.1); h*h": {"h": 0.3},
    "a = x*y; a = a + x; a*a/y": {"x": 0.7, "y": 1.9},
    "x*x*x + x*y*x": {"x": 1.2, "y": -0.4},
    "s = x + y; s*s*s + s*x": {"x": 0.4, "y": 0.9},
    "e = 3; e*x*y + pi*x^2": {"x": 2.0, "y": -1.0},
    # kinks and flat gates away from the point
    "relu(x - 1) * y^2": {"x": 0.5, "y": 1.5},
    "abs(x*y) + max(x, 2)*y": {"x": -0.7, "y": 0.4},
    "sqrt(relu(x)) + y^2*x": {"x": -1.0, "y": 0.6},
    "x^0 * y^2 + 1^x": {"x": 0.8, "y": -1.7},
    "sign(x)*x*y^2": {"x": -0.4, "y": 1.1},
}  # fmt: skip


SYMPY_NAN = {"sqrt(relu(x)) + y^2*x"}


def _samples() -> list[tuple[str, dict[str, float]]]:
    return [
        (path.read_text(), dict(defaults(path.read_text())))
        for path in sorted((ROOT / "samples").glob("*.bp"))
    ]


CORPUS: list[tuple[str, dict[str, float]]] = (
    [(f"{name}(x)", {"x": value}) for name, value in UNARY.items()]
    + [(f"{name}(x*y)", {"x": value, "y": 0.9}) for name, value in list(UNARY.items())[:12]]
    + [(text, {"x": a, "y": b}) for text, (a, b) in BINARY.items()]
    + [
        ("max(x, y, z)", {"x": 0.4, "y": 1.3, "z": -0.2}),
        ("min(x, y, z)", {"x": 0.4, "y": 1.3, "z": -0.2}),
    ]
    + [("logsumexp(x, y, z)", {"x": 0.4, "y": 1.3, "z": -0.2})]
    + [("where(x, y*y, z)", {"x": -0.4, "y": 1.3, "z": 2.0})]
    + list(COMPOSED.items())
    + _samples()
)


def reference_hessian(source: str, at: dict[str, float]) -> list[list[float]]:
    """SymPy's second derivatives of the program, from the gate table's sympy column."""
    graph = build_graph(parse(source))
    symbols = {name: sp.Symbol(name, real=True) for name in graph.inputs}
    exprs: list = []
    for node in graph.nodes:
        if node.op == "var":
            exprs.append(symbols[node.label])
        elif node.op == "const":
            exprs.append(sp.Float(node.value, 40))
        else:
            exprs.append(GATES[node.op].sympy(sp, *[exprs[j] for j in node.inputs]))
    out = exprs[graph.output]
    point = {symbols[n]: sp.Float(v, 40) for n, v in at.items()}
    names = list(graph.inputs)
    return [
        [float(sp.diff(out, symbols[a], symbols[b]).xreplace(point).evalf(30)) for b in names]
        for a in names
    ]


def test_corpus_has_at_least_sixty_programs() -> None:
    assert len(CORPUS) >= 60
    assert len({source for source, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("source", "at"), CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_hessian_matches_sympys_second_derivatives(source: str, at: dict[str, float]) -> None:
    ours = hessian(source, at, check=False)
    expected = reference_hessian(source, at)
    for a, row in enumerate(expected):
        for b, exact in enumerate(row):
            if math.isnan(exact) and source in SYMPY_NAN:
                # SymPy's formula has 0 * oo behind the flat relu; nothing flows there
                # (PyTorch masks it the same way), so the entry is 0.
                assert ours.matrix[a][b] == 0.0
                continue
            assert ours.matrix[a][b] == pytest.approx(exact, rel=1e-9, abs=1e-12), (
                source,
                ours.inputs[a],
                ours.inputs[b],
            )
    # Symmetric: to the last bit or within rounding (the README says which, and how often).
    assert ours.symmetry in ("bit for bit", "within rounding")
    assert ours.asymmetry <= 1e-12


@pytest.mark.parametrize(("source", "at"), CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_directional_derivative_is_the_gradients_dot_product(
    source: str, at: dict[str, float]
) -> None:
    names = list(at)
    direction = {name: (-1.0) ** k * (0.5 + 0.25 * k) for k, name in enumerate(names)}
    result = evaluate(source, at, check=False, direction=direction)
    dot = math.fsum(result.gradients[n] * d for n, d in direction.items())
    assert result.directional_derivative == pytest.approx(dot, rel=1e-12, abs=1e-14)
    # Along a unit direction, forward mode gives that input's gradient at every input node.
    first = names[0]
    along = evaluate(source, at, check=False, direction={first: 1.0})
    assert along.directional_derivative == pytest.approx(
        result.gradients[first], rel=1e-12, abs=1e-15
    )


def test_hessian_check_is_ok_on_the_perceptron_and_bit_for_bit_symmetric() -> None:
    text = (ROOT / "samples" / "perceptron.bp").read_text()
    h = hessian(text, dict(defaults(text)))
    assert h.check.status == "ok"
    assert h.check.counts["ok"] == 25
    assert h.symmetry == "bit for bit"
    # By hand: out = s(z), z = w0*x0 + w1*x1 + w2; d2/dw2^2 = s''(z) = s(1-s)(1-2s) at z = 1.
    s = 1 / (1 + math.exp(-1.0))
    assert h.matrix[4][4] == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-12)
    assert h.definiteness == "indefinite"
    assert sum(h.eigenvalues) == pytest.approx(sum(h.matrix[i][i] for i in range(5)), rel=1e-12)


def test_eigenvalues_and_what_they_say() -> None:
    assert jacobi_eigenvalues([[2.0, 1.0], [1.0, 2.0]]) == pytest.approx([1.0, 3.0], rel=1e-15)
    # The eigenvalues of [[4, 1, 2], [1, 3, 0], [2, 0, 5]], by SymPy.
    m = sp.Matrix([[4, 1, 2], [1, 3, 0], [2, 0, 5]])
    exact = sorted(float(sp.re(v.evalf(30))) for v in m.eigenvals(multiple=True))
    assert jacobi_eigenvalues([[4, 1, 2], [1, 3, 0], [2, 0, 5]]) == pytest.approx(exact, rel=1e-13)
    assert eigenvalues_of([[4, 1, 2], [1, 3, 0], [2, 0, 5]]) == pytest.approx(exact, rel=1e-13)
    # The Householder + QL routine (the one used) against Jacobi rotations, on matrices
    # whose eigenvalues are known: Q diag(k) Q^T for a rotation Q built from angles.
    for n in (4, 9, 16):
        known = [float(k - n // 2) + 0.25 * k for k in range(n)]
        m = [[known[i] if i == j else 0.0 for j in range(n)] for i in range(n)]
        for p in range(n - 1):  # a chain of Givens rotations mixes every coordinate
            c, s = math.cos(0.3 + p), math.sin(0.3 + p)
            for row in m:
                row[p], row[p + 1] = c * row[p] - s * row[p + 1], s * row[p] + c * row[p + 1]
            for k in range(n):
                m[p][k], m[p + 1][k] = c * m[p][k] - s * m[p + 1][k], s * m[p][k] + c * m[p + 1][k]
        assert eigenvalues_of(m) == pytest.approx(sorted(known), abs=1e-12)
        assert jacobi_eigenvalues(m) == pytest.approx(sorted(known), abs=1e-12)
    assert classify([1.0, 2.0], [0.0, 0.0])[0] == "positive definite"
    assert "local minimum" in classify([1.0, 2.0], [0.0, 0.0])[1]
    assert classify([-1.0, -2.0], [0.0])[0] == "negative definite"
    assert classify([-1.0, 2.0], [0.0])[0] == "indefinite"
    assert classify([0.0, 2.0], [0.0])[0] == "positive semidefinite"
    assert classify([0.0, -2.0], [0.0])[0] == "negative semidefinite"


def test_minimum_maximum_and_saddle() -> None:
    assert hessian("x^2 + y^2", {"x": 0, "y": 0}).definiteness == "positive definite"
    assert hessian("-(x^2) - y^2 + x*y", {"x": 0, "y": 0}).definiteness == "negative definite"
    saddle = hessian("x^2 - y^2", {"x": 0, "y": 0})
    assert saddle.definiteness == "indefinite"
    assert "saddle" in saddle.meaning and "the gradient is 0 here" in saddle.meaning


def test_kink_at_the_point_follows_pytorch_and_is_n_a() -> None:
    # relu(x)*y + x^2 at x = 0: relu'(0) = 0 (PyTorch), so d2/dx dy = 0, d2/dx2 = 2.
    h = hessian("relu(x)*y + x^2", {"x": 0.0, "y": 2.0})
    assert h.matrix == ((2.0, 0.0), (0.0, 0.0))
    assert h.verdicts[0][1] == h.verdicts[1][0] == h.verdicts[0][0] == "n/a"
    assert h.verdicts[1][1] == "ok"
    assert h.check.status == "n/a"
    assert any("relu is not differentiable at 0" in note for note in h.notes)
    # abs at 0 and a max tie: the same.
    assert hessian("abs(x)*y", {"x": 0.0, "y": 1.0}).check.status == "n/a"
    assert hessian("max(x, y)^2", {"x": 1.0, "y": 1.0}).check.status == "n/a"


def test_infinite_second_derivative_is_null_with_a_note() -> None:
    h = hessian("sqrt(x) + y", {"x": 0.0, "y": 1.0})
    assert math.isinf(h.matrix[0][0])
    assert any("d2/dx dx is -inf" in note for note in h.notes)
    assert h.eigenvalues is None
    document = json.loads(run("hessian", "sqrt(x) + y", "--at", "x=0,y=1", "--json").stdout)
    assert document["hessian"][0][0] is None
    assert document["eigenvalues"] is None


def test_hessian_in_many_digits_agrees_with_mpmath_by_hand() -> None:
    # x*exp(y): d2/dxdy = exp(y), d2/dy2 = x*exp(y), d2/dx2 = 0.
    h = hessian("x*exp(y)", {"x": 1.5, "y": 2.0}, digits=30)
    import mpmath

    ctx = mpmath.MPContext()  # its own precision: the global one is the check's
    ctx.dps = 40
    assert h.matrix_exact[0][1] == ctx.nstr(ctx.exp(2), 30)
    assert h.matrix_exact[1][1] == ctx.nstr(ctx.mpf(1.5) * ctx.exp(2), 30)
    assert h.matrix[1][1] == float(ctx.mpf(1.5) * ctx.exp(2))


def test_hessian_wrt_a_subset_keeps_input_order() -> None:
    text = (ROOT / "samples" / "perceptron.bp").read_text()
    full = hessian(text, dict(defaults(text)), check=False)
    part = hessian(text, dict(defaults(text)), ["w1", "w0"], check=False)
    assert part.inputs == ("w0", "w1")
    assert part.matrix[0][1] == full.matrix[0][2]


def test_inaccurate_entry_is_told_apart_from_a_wrong_rule() -> None:
    # (1 - cos x)/x^2 at 1e-5 loses its digits in float64; 40 digits agree with SymPy.
    h = hessian("(1-cos(x))/x^2", {"x": 1e-5})
    assert h.verdicts[0][0] == "inaccurate"
    assert h.check.status == "inaccurate"


# --- Jacobians --------------------------------------------------------------------------

SEVERAL = [
    ("u = x*y; v = x + sin(y)", {"x": 2.0, "y": 0.5}, ["u", "v"]),
    ("u = x*y; v = x + y; w = tanh(x - y)", {"x": 1.0, "y": 2.0}, ["u", "v", "w"]),
    ("a = exp(x)*y*z; b = log(x + z)", {"x": 0.3, "y": -1.2, "z": 2.0}, ["a", "b"]),
    ("h = tanh(w*x); h = h*h; y1 = h + x; y2 = h*w", {"w": 0.8, "x": -0.4}, ["h", "y1", "y2"]),
]


@pytest.mark.parametrize(("source", "at", "outputs"), SEVERAL)
def test_jacobian_is_the_stacked_gradients_in_both_modes(
    source: str, at: dict[str, float], outputs: list[str]
) -> None:
    stacked = evaluate(source, at, check=False, outputs=outputs).output_gradients
    assert stacked is not None
    for mode in ("forward", "reverse"):
        j = jacobian(source, at, outputs, mode=mode, check=False)
        for r, name in enumerate(outputs):
            for c, x in enumerate(j.inputs):
                assert j.matrix[r][c] == pytest.approx(stacked[name][x], rel=1e-12, abs=1e-15)
    j = jacobian(source, at, outputs)
    assert j.mode == ("reverse" if len(outputs) <= len(at) else "forward")
    assert j.check.status == "ok"


def test_output_gradients_agree_with_evaluating_each_output_alone() -> None:
    result = evaluate("u = x*y; v = x + sin(y); u - v", {"x": 2.0, "y": 0.5}, outputs=["u", "v"])
    assert result.output_gradients == {
        "u": {"x": 0.5, "y": 2.0},
        "v": {"x": 1.0, "y": math.cos(0.5)},
    }
    assert result.value == 2.0 + math.sin(0.5)  # the last named output is the output
    assert result.check.status == "ok"


def test_unknown_output_names_the_named_statements() -> None:
    done = run("eval", "u = x*y; v = x + y", "--at", "x=1,y=2", "--output", "w", expect=2)
    assert "w is not a named statement; the named statements are: u, v" in done.stderr
    done = run("eval", "x*y", "--at", "x=1,y=2", "--direction", "z=1", expect=2)
    assert "--direction z is not an input" in done.stderr


def test_eval_json_with_outputs_and_direction_fits_the_schema() -> None:
    import jsonschema

    schema = json.loads((ROOT / "schema" / "eval.schema.json").read_text())
    done = run(
        "eval", "u = x*y; v = x + y; u*v", "--at", "x=2,y=3", "--output", "u", "--output", "v",
        "--direction", "x=1,y=2", "--json",
    )  # fmt: skip
    document = json.loads(done.stdout)
    jsonschema.validate(document, schema)
    assert document["gradients"] == {"u": {"x": 3.0, "y": 2.0}, "v": {"x": 1.0, "y": 1.0}}
    assert document["directional_derivative"] == 3.0  # v = x + y along (1, 2)
    assert [n["tangent"] for n in document["nodes"]][:2] == [1.0, 2.0]


# --- higher order -----------------------------------------------------------------------

X = sp.Symbol("x", real=True)
ORDERS = [
    ("tanh(x)", sp.tanh(X), 0.5),
    ("sin(x)*x", sp.sin(X) * X, 0.7),
    ("exp(-x^2)", sp.exp(-(X**2)), 0.3),
    ("sigmoid(x)", 1 / (1 + sp.exp(-X)), -0.4),
    ("log(1 + x^2)", sp.log(1 + X**2), 1.2),
]


@pytest.mark.parametrize(("source", "formula", "x"), ORDERS)
def test_nth_derivative_up_to_six_matches_sympy(source: str, formula: sp.Expr, x: float) -> None:
    for order in range(1, 7):
        text = gradient_program(source, ["x"], order=order).text
        ours = evaluate(text, {"x": x}, check=False).value
        exact = float(sp.diff(formula, X, order).subs(X, sp.Float(x, 40)).evalf(30))
        assert ours == pytest.approx(exact, rel=1e-9, abs=1e-12), (source, order)


def test_sixth_derivative_of_tanh_reports_its_graph_size() -> None:
    done = run("grad", "tanh(x)", "--order", "6")
    first = done.stdout.splitlines()[0]
    assert first.startswith("# The 6th derivative of tanh(x) by x")
    assert "(a graph of 50 nodes)" in first
    document = json.loads(run("grad", "tanh(x)", "--order", "6", "--json").stdout)
    assert document["order"] == 6 and document["nodes"] == 50


def test_order_past_the_size_limit_stops_with_a_clear_message() -> None:
    graph = build_graph(parse("tanh(x)*sin(x)"))
    with pytest.raises(BackpropError) as caught:
        nth_derivative(graph, "x", 10, limit=500)
    assert caught.value.kind == "limit"
    assert "over the limit of 500" in caught.value.message
    done = run("grad", "x*y", "--order", "2", expect=2)
    assert "--order 2 takes the derivative in one input" in done.stderr


# --- the command line -------------------------------------------------------------------


def test_hessian_json_has_specs_keys() -> None:
    done = run("hessian", "x^2 + 3*x*y + y^4", "--at", "x=0,y=0", "--json")
    document = json.loads(done.stdout)
    assert document["inputs"] == ["x", "y"]
    assert document["hessian"] == [[2.0, 3.0], [3.0, 0.0]]
    # Eigenvalues of [[2, 3], [3, 0]]: 1 -+ sqrt(10).
    assert document["eigenvalues"] == pytest.approx([1 - math.sqrt(10), 1 + math.sqrt(10)])
    assert document["definiteness"] == "indefinite"
    assert document["check"]["status"] == "ok"


def test_jacobian_json_has_specs_keys() -> None:
    done = run("jacobian", "u = x*y; v = x + sin(y)", "--output", "u", "--output", "v",
               "--at", "x=2,y=0.5", "--json")  # fmt: skip
    document = json.loads(done.stdout)
    assert document["outputs"] == ["u", "v"] and document["inputs"] == ["x", "y"]
    assert document["jacobian"] == [[0.5, 2.0], [1.0, math.cos(0.5)]]
    assert document["mode"] == "reverse"


def test_explain_forward_reads_forward_modes_numbers() -> None:
    document = json.loads(
        run(
            "explain", "--forward", "-f", "samples/circuit.bp", "--direction", "x=1,y=1", "--json"
        ).stdout  # fmt: skip
    )
    assert [s["tangent"] for s in document["steps"]] == [2.0, -8.0]
    assert document["directional_derivative"] == -8.0  # (dx + dy) * z = 2 * -4
    run("explain", "-f", "samples/circuit.bp", "--direction", "x=1", expect=2)


IMPORTS = """
import sys
from backprop.cli.main import main
sys.argv = ["backprop", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ("sympy", "mpmath", "numpy")
sys.stderr.write("imported: %s\\n" % sorted(m for m in heavy if m in sys.modules))
"""


def test_forward_mode_without_the_check_imports_no_heavy_library() -> None:
    args = ["eval", "x*y", "--at", "x=1,y=2", "--direction", "x=1", "--no-check", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, *args], capture_output=True, text=True, check=True
    )
    assert done.stderr.endswith("imported: []\n")
    hessian_args = ["hessian", "x*y", "--at", "x=1,y=2", "--no-check"]
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, *hessian_args], capture_output=True, text=True, check=True
    )
    assert done.stderr.endswith("imported: []\n")


def test_gate_by_gate_check_covers_what_the_whole_program_check_cannot() -> None:
    # 40 inputs: 820 distinct entries, over the whole-program check's limit of 465.
    n = 40
    terms = " + ".join(f"tanh(x{i}*x{(i + 1) % n})" for i in range(n))
    at = {f"x{i}": 0.05 * i - 1.0 for i in range(n)}
    h = hessian(terms, at)
    assert h.check.status == "ok"
    assert h.check.methods == {"adjoint": 0, "local": n * n}
    # By hand: d2/dx0 dx1 of tanh(x0*x1) is dtanh(u) - 2*u*tanh(u)*dtanh(u), u = x0*x1.
    u = at["x0"] * at["x1"]
    slope = 1 - math.tanh(u) ** 2
    assert h.matrix[0][1] == pytest.approx(slope - 2 * u * math.tanh(u) * slope, rel=1e-12)


def test_a_wrong_rule_is_a_mismatch_in_both_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    wrong = dataclasses.replace(GATES["sin"], vjp=lambda L, g, a, out: (g * L.cos(a) * 1.5,))
    monkeypatch.setitem(GATES, "sin", wrong)
    h = hessian("sin(x*y)", {"x": 0.4, "y": 0.9})
    assert h.check.status == "mismatch"
    assert h.verdicts[0][0] == "mismatch"
    done = run("hessian", "sin(x*y)", "--at", "x=0.4,y=0.9", expect=1)
    assert "mismatch" in done.stdout


def test_symmetry_within_rounding_is_said_with_its_size() -> None:
    # logsumexp(x, y, z): the two paths to d2/dx dz round differently (measured: 2.3e-16).
    h = hessian("logsumexp(x, y, z)", {"x": 0.4, "y": 1.3, "z": -0.2}, check=False)
    assert h.symmetry == "within rounding"
    assert 0 < h.asymmetry <= 1e-15
    done = run("hessian", "logsumexp(x, y, z)", "--at", "x=0.4,y=1.3,z=-0.2", "--no-check")
    assert "symmetry      within rounding: the largest difference between H[i][j] and " in (
        done.stdout
    )


def test_bad_input_to_the_new_commands_is_exit_2_with_a_message() -> None:
    done = run("hessian", "x*y", "--at", "x=1,y=2", "--wrt", "z", "--json", expect=2)
    assert json.loads(done.stdout)["error"]["kind"] == "input"
    assert "z is not an input; inputs are: x, y" in done.stderr
    done = run("jacobian", "u = x*y", "--at", "x=1,y=2", expect=2)
    assert "name the outputs with --output NAME" in done.stderr
    done = run("explain", "--forward", "x*y", "--at", "x=1,y=2", "--direction", "q=1", expect=2)
    assert "--direction q is not an input" in done.stderr
