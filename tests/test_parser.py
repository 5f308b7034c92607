"""The parser, read as documentation: source text on the left, the tree it means on the right.

Trees are compared through their S-expressions (`to_sexpr`), which name each
gate the way the engine and the JSON do: `-x**2` is `(neg (pow x 2))`.
Error cases show the message fragment and a caret line drawn from the
error's span, so a wrong column shows up as a misplaced caret.
"""

from __future__ import annotations

import math

import pytest
from backprop.engine.build import build_graph
from backprop.engine.graph import validate
from backprop.engine.passes import backward, forward
from backprop.parser import (
    MAX_DEPTH,
    Assign,
    Binary,
    Call,
    Num,
    ParseError,
    Span,
    Unary,
    parse,
    to_sexpr,
)

# --- what the text means --------------------------------------------------------

PROGRAMS = [
    # precedence and associativity
    ("a-b-c", "(sub (sub a b) c)"),
    ("a/b/c", "(div (div a b) c)"),
    ("a-b*c", "(sub a (mul b c))"),
    ("(a-b)*c", "(mul (sub a b) c)"),
    ("a+b*c^d", "(add a (mul b (pow c d)))"),
    ("2^3^2", "(pow 2 (pow 3 2))"),
    ("2**3**2", "(pow 2 (pow 3 2))"),
    ("2**3^2", "(pow 2 (pow 3 2))"),
    ("(2^3)^2", "(pow (pow 2 3) 2)"),
    # prefix signs: looser than a power, tighter than * and /
    ("-x**2", "(neg (pow x 2))"),
    ("-x^2", "(neg (pow x 2))"),
    ("(-x)**2", "(pow (neg x) 2)"),
    ("2**-1", "(pow 2 (neg 1))"),
    ("x^-2", "(pow x (neg 2))"),
    ("-2**-2", "(neg (pow 2 (neg 2)))"),
    ("a*-b", "(mul a (neg b))"),
    ("2*-x**2", "(mul 2 (neg (pow x 2)))"),
    ("--x", "(neg (neg x))"),
    ("+x", "(pos x)"),
    ("-+x", "(neg (pos x))"),
    ("a - -b", "(sub a (neg b))"),
    ("-a*b", "(mul (neg a) b)"),
    # calls
    ("exp(x)", "(exp x)"),
    ("exp (x)", "(exp x)"),
    ("sin(cos(x))", "(sin (cos x))"),
    ("pow(x, 2)", "(pow x 2)"),
    ("pow(x+1, y*2)", "(pow (add x 1) (mul y 2))"),
    ("max(a, b)", "(max a b)"),
    ("max(a, b, c)", "(max a b c)"),
    ("min(a, b+c, -d)", "(min a (add b c) (neg d))"),
    ("ln(x)", "(log x)"),  # ln is another name for the log gate
    ("atan2(y, x)", "(atan2 y x)"),
    ("hypot(a, -b)", "(hypot a (neg b))"),
    ("logsumexp(a, b, c, d)", "(logsumexp a b c d)"),
    (
        "log1p(expm1(x)) + log2(x) * log10(x) - erf(x)",
        "(sub (add (log1p (expm1 x)) (mul (log2 x) (log10 x))) (erf x))",
    ),
    ("1/(1+exp(-x))", "(div 1 (add 1 (exp (neg x))))"),
    ("-exp(x)", "(neg (exp x))"),
    ("exp(x)^2", "(pow (exp x) 2)"),
    # numbers, printed as written
    (".5", ".5"),
    ("5.", "5."),
    ("1e-3", "1e-3"),
    ("2.5E+4", "2.5E+4"),
    ("007", "007"),
    ("3.25*x", "(mul 3.25 x)"),
    # constants are names like any other in the tree
    ("pi*e", "(mul pi e)"),
    # programs: assignment, rebinding, separators
    ("y = 2*x", "(= y (mul 2 x))"),
    ("y = x; y*y", "(= y x); (mul y y)"),
    ("h = tanh(0.5*h + 0.1); h*h", "(= h (tanh (add (mul 0.5 h) 0.1))); (mul h h)"),
    ("x = 1; x = x*2; x", "(= x 1); (= x (mul x 2)); x"),
    ("pi = 3; pi*x", "(= pi 3); (mul pi x)"),
    ("a = 1\nb = a + 2\nb", "(= a 1); (= b (add a 2)); b"),
    ("x*y;", "(mul x y)"),
    ("x*y\n", "(mul x y)"),
    ("\n\nx\n\n  \n", "x"),
    ("x;;y", "x; y"),
    # comments
    ("x*y  # the product", "(mul x y)"),
    ("# a comment first\nx", "x"),
    ("x # comments may say anything: −, ², α\ny", "x; y"),
    # line ends and a byte-order mark
    ("x = 1\r\ny = x*2\r\ny\r\n", "(= x 1); (= y (mul x 2)); y"),
    ("\ufeffx*y", "(mul x y)"),
    # whitespace: tabs anywhere, newlines inside parentheses continue the expression
    ("x\t+\ty", "(add x y)"),
    ("(a +\n b)", "(add a b)"),
    ("max(a,\n    b,\n    c)", "(max a b c)"),
    ("y = (1 +\n     x)\ny", "(= y (add 1 x)); y"),
]


@pytest.mark.parametrize(("source", "sexpr"), PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_parse(source: str, sexpr: str) -> None:
    assert to_sexpr(parse(source)) == sexpr


NUMBERS = [
    ("3", 3.0),
    ("3.25", 3.25),
    (".5", 0.5),
    ("5.", 5.0),
    ("1e-3", 0.001),
    ("2.5E+4", 25000.0),
    ("007", 7.0),
    ("1e308", 1e308),
]


@pytest.mark.parametrize(("text", "value"), NUMBERS, ids=[n[0] for n in NUMBERS])
def test_number_values(text: str, value: float) -> None:
    (statement,) = parse(text).statements
    assert isinstance(statement, Num)
    assert statement.value == value
    assert statement.text == text


# --- what is refused, and where the caret goes -----------------------------------


ERRORS = [
    # (source, a fragment of the message, a caret line under the span)
    ("(x+1", "expected ')' to close '(' at column 1, found end of input", "    ^"),
    ("1/(1+exp(-x)", "expected ')' to close '(' at column 3", "            ^"),
    ("tanh(x", "expected ')' to close the call of tanh", "      ^"),
    ("x+1)", "unmatched ')'", "   ^"),
    ("()", "empty parentheses", " ^"),
    ("2x", "multiplication is written 2*x", "^^"),
    ("2.5y", "multiplication is written 2.5*y", "^^^^"),
    ("x y", "multiplication is written a*b", "  ^"),
    ("(x)(y)", "multiplication is written a*b", "   ^"),
    ("sigmod(x)", "unknown function 'sigmod'; did you mean sigmoid?", "^^^^^^"),
    ("3 * f(x)", "unknown function 'f'", "    ^"),
    ("pow(x)", "pow takes 2 arguments, got 1", "^^^^^^"),
    ("max(x)", "max takes 2 or more arguments, got 1", "^^^^^^"),
    ("min()", "min takes 2 or more arguments, got 0", "^^^^^"),
    ("exp(x, y)", "exp takes 1 argument, got 2", "^^^^^^^^^"),
    ("ln(x, 2)", "ln takes 1 argument, got 2", "^^^^^^^^"),
    ("atan2(y)", "atan2 takes 2 arguments, got 1", "^^^^^^^^"),
    ("hypot(a, b, c)", "hypot takes 2 arguments, got 3", "^^^^^^^^^^^^^^"),
    ("logsumexp(x)", "logsumexp takes 2 or more arguments, got 1", "^^^^^^^^^^^^"),
    ("ln = 3", "cannot assign to ln: it is a function", "^^"),
    ("exp = 3", "cannot assign to exp: it is a function", "^^^"),
    ("2*exp", "exp is a function: call it as exp(...)", "  ^^^"),
    ("0x10", "only decimal numbers are supported", "^^^^"),
    ("1_000", "digit separators are not supported: write 1000", "^^^^^"),
    ("x \u22121", "'\u2212' (U+2212 MINUS SIGN); use '-' instead", "  ^"),
    ("x\u00a0+ 1", "U+00A0 NO-BREAK SPACE", " ^"),
    ("x*\u00d7y", "U+00D7 MULTIPLICATION SIGN", "  ^"),
    ("x\u00b2", "U+00B2 SUPERSCRIPT TWO", " ^"),
    ("1e400", "number 1e400 is too large", "^^^^^"),
    ("x = ", "expected an expression, found end of input", "    ^"),
    ("x +* 2", "expected an expression, found '*'", "   ^"),
    ("x,y", "',' is only allowed between a function's arguments", " ^"),
    ("max(x,)", "expected an expression, found ')'", "      ^"),
    ("x = y = 2", "expected an operator or the end of the statement, found '='", "      ^"),
]


def caret(span: Span) -> str:
    """A caret line under `span`, as a one-line program would show it."""
    return " " * span.start + "^" * max(1, span.end - span.start)


@pytest.mark.parametrize(
    ("source", "fragment", "expected_caret"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_syntax_error(source: str, fragment: str, expected_caret: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(source)
    assert fragment in info.value.message
    assert info.value.span is not None
    assert caret(info.value.span) == expected_caret


@pytest.mark.parametrize("source", ["", "   ", "\n\n", "# only a comment\n", ";"])
def test_empty_program(source: str) -> None:
    with pytest.raises(ParseError, match="the program is empty"):
        parse(source)


def test_error_on_a_later_line_reports_line_and_column() -> None:
    source = "a = 1\nb = a +* 2\nb"
    with pytest.raises(ParseError) as info:
        parse(source)
    span = info.value.span
    assert span is not None
    assert source[span.start : span.end] == "*"
    assert span.line_col(source) == (2, 8)


def test_unclosed_paren_names_the_opener_on_its_line() -> None:
    with pytest.raises(ParseError, match=r"to close '\(' at line 2, column 5, found end of input"):
        parse("y = 1\nz = (x +\n 2")


def test_long_number_literal_is_refused() -> None:
    with pytest.raises(ParseError, match="number is too long"):
        parse("1" * 500)


# --- spans: each node knows the characters it came from ---------------------------


def text_of(source: str, span: Span) -> str:
    return source[span.start : span.end]


def test_spans_of_binary_unary_and_call() -> None:
    source = "-x**2 + 3*exp(y)"
    (add,) = parse(source).statements
    assert isinstance(add, Binary)
    assert text_of(source, add.span) == source
    neg, mul = add.left, add.right
    assert isinstance(neg, Unary) and isinstance(mul, Binary)
    assert text_of(source, neg.span) == "-x**2"
    assert text_of(source, neg.operand.span) == "x**2"
    assert text_of(source, mul.span) == "3*exp(y)"
    call = mul.right
    assert isinstance(call, Call)
    assert text_of(source, call.span) == "exp(y)"
    assert text_of(source, call.args[0].span) == "y"


def test_span_of_a_parenthesised_operand_includes_the_parentheses() -> None:
    source = "(x+y)*z"
    (mul,) = parse(source).statements
    assert isinstance(mul, Binary)
    assert text_of(source, mul.span) == "(x+y)*z"
    # The sum's own span is what it computes; the product's covers the parentheses.
    assert text_of(source, mul.left.span) == "x+y"


def test_spans_of_an_assignment() -> None:
    source = "x = 1\ny = 2 * log(x - 1) * 2"
    _, assign = parse(source).statements
    assert isinstance(assign, Assign)
    assert assign.name == "y"
    assert text_of(source, assign.name_span) == "y"
    assert text_of(source, assign.span) == "y = 2 * log(x - 1) * 2"
    outer = assign.value
    assert isinstance(outer, Binary) and isinstance(outer.left, Binary)
    assert text_of(source, outer.left.right.span) == "log(x - 1)"


def test_spans_index_the_text_as_given_with_a_bom() -> None:
    source = "\ufeffx*y"
    (mul,) = parse(source).statements
    assert text_of(source, mul.span) == "x*y"


def test_spans_across_crlf_lines() -> None:
    source = "a = 1\r\nb = exp(a)\r\nb"
    _, assign, _ = parse(source).statements
    assert isinstance(assign, Assign)
    assert text_of(source, assign.value.span) == "exp(a)"
    assert assign.value.span.line_col(source) == (2, 5)


# --- deep input: no recursion anywhere ---------------------------------------------

DEEP = 50_000


def test_deep_parentheses() -> None:
    source = "(" * DEEP + "x" + ")" * DEEP
    program = parse(source)
    assert to_sexpr(program) == "x"
    graph = build_graph(program)
    validate(graph)
    values = forward(graph, {"x": 2.5})
    assert values[graph.output] == 2.5
    assert backward(graph, values)[graph.inputs["x"]] == 1.0


@pytest.mark.slow
def test_deep_unary_minus() -> None:
    source = "-" * DEEP + "x"
    program = parse(source)
    assert to_sexpr(program) == "(neg " * DEEP + "x" + ")" * DEEP
    graph = build_graph(program)
    validate(graph)
    assert len(graph.nodes) == DEEP + 1
    values = forward(graph, {"x": 2.5})
    grads = backward(graph, values)
    # An even number of negations: the value and the slope are x's own.
    assert values[graph.output] == 2.5
    assert grads[graph.inputs["x"]] == 1.0


@pytest.mark.slow
def test_deep_odd_unary_minus() -> None:
    source = "-" * (DEEP + 1) + "x"
    graph = build_graph(parse(source))
    values = forward(graph, {"x": 2.5})
    assert values[graph.output] == -2.5
    assert backward(graph, values)[graph.inputs["x"]] == -1.0


@pytest.mark.slow
def test_deep_power_tower() -> None:
    # x^x^...^x (right-associative). For 1 < x < e^(1/e) the tower converges
    # to y = x^y, and differentiating y = x^y by hand gives
    #   y' = y * (y' * ln x + y / x)   so   y' = y**2 / (x * (1 - y * ln x)).
    # 50,000 levels are far past convergence in floating point.
    x = 1.2
    y = 1.0
    for _ in range(1000):
        y = x**y
    slope = y * y / (x * (1 - y * math.log(x)))

    source = "^".join(["x"] * DEEP)
    program = parse(source)
    assert to_sexpr(program) == "(pow x " * (DEEP - 1) + "x" + ")" * (DEEP - 1)
    graph = build_graph(program)
    validate(graph)
    assert len(graph.nodes) == DEEP  # one input, DEEP - 1 power gates
    values = forward(graph, {"x": x})
    grads = backward(graph, values)
    assert math.isclose(values[graph.output], y, rel_tol=1e-12)
    assert math.isclose(grads[graph.inputs["x"]], slope, rel_tol=1e-9)


@pytest.mark.slow
def test_deep_nested_calls() -> None:
    source = "sin(" * DEEP + "x" + ")" * DEEP
    program = parse(source)
    assert to_sexpr(program) == "(sin " * DEEP + "x" + ")" * DEEP
    graph = build_graph(program)
    values = forward(graph, {"x": 1.0})
    grads = backward(graph, values)
    # The chain rule by hand: the product of cos at each level's input.
    value, slope = 1.0, 1.0
    for _ in range(DEEP):
        slope *= math.cos(value)
        value = math.sin(value)
    assert math.isclose(values[graph.output], value, rel_tol=1e-12)
    assert math.isclose(grads[graph.inputs["x"]], slope, rel_tol=1e-9)


@pytest.mark.parametrize(
    "source",
    [
        "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        "-" * (MAX_DEPTH + 1) + "x",
        "^".join(["x"] * (MAX_DEPTH + 2)),
    ],
    ids=["parentheses", "unary minus", "power tower"],
)
def test_nesting_past_the_limit_is_refused(source: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(source)
    assert "nested too deeply" in info.value.message
    assert f"{MAX_DEPTH:,}" in info.value.message
    assert info.value.span is not None
