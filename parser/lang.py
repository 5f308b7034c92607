"""The vocabulary of the language: functions, constants and documented limits."""

from __future__ import annotations

# name -> (fewest arguments, most arguments or None for no upper bound)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    **dict.fromkeys(
        [
            "exp",
            "log",
            "ln",
            "log1p",
            "expm1",
            "log2",
            "log10",
            "sqrt",
            "sin",
            "cos",
            "tan",
            "asin",
            "acos",
            "atan",
            "sinh",
            "cosh",
            "tanh",
            "sigmoid",
            "relu",
            "softplus",
            "abs",
            "erf",
        ],
        (1, 1),
    ),
    "pow": (2, 2),
    "atan2": (2, 2),
    "hypot": (2, 2),
    "max": (2, None),
    "min": (2, None),
    "logsumexp": (2, None),
    # The gates derivative programs are written with (backprop grad):
    # dtanh(a) = 1 - tanh(a)^2, dsigmoid(a) = sigmoid(a)*(1 - sigmoid(a)) and
    # derf(a) = 2/sqrt(pi)*exp(-a^2), computed from a (accurate far out);
    # where(c, t, f) is t where c > 0, else f; sign(a) is -1, 0 or 1.
    "dtanh": (1, 1),
    "dsigmoid": (1, 1),
    "derf": (1, 1),
    "where": (3, 3),
    "sign": (1, 1),
}

# Another name for a gate: `ln(x)` is built as the gate `log` (one rule, one
# JSON op), while the node's text stays `ln(x)` as written.
ALIASES: dict[str, str] = {"ln": "log"}

CONSTANTS: dict[str, str] = {"pi": "pi", "e": "e"}

# Documented limits (README, "Limits"). Past each, a clean error, exit 2;
# at each, everything works (tests/test_limits.py). A program at the node
# limit takes tens of seconds and a few GB; the others cost far less.
MAX_SOURCE = 10_000_000  # characters of program text
MAX_DEPTH = 100_000  # nesting of parentheses, calls, prefix signs and powers
MAX_NUMBER = 400  # characters in one number literal
MAX_STATEMENTS = 1_000_000  # statements in a program
MAX_NODES = 2_000_000  # graph nodes: inputs, constants, operators and calls


def closest_function(name: str) -> str | None:
    """The known function whose name is nearest to `name`, if any is near."""
    import difflib  # only for an error message: not at start-up

    match = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
    return match[0] if match else None
