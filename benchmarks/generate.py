"""A large generated program: a sum of many small terms over a few dozen inputs.

    python benchmarks/generate.py                 # 10,000 terms over 51 inputs, to stdout
    python benchmarks/generate.py 500 -o big.bp   # a smaller one, to a file

The terms mix tanh, sigmoid, exp and products (about 7.5 nodes a term with
the sum's own additions), like the program in issue 9 on which the check
once left every input row `not checked`. The file starts with a `# at:`
line, so `backprop eval -f big.bp` needs no `--at`. The same arguments
always give the same text: term k uses inputs and constants picked by
arithmetic on k, not by a random generator.
"""

from __future__ import annotations

import argparse
import sys

# Each shape names its inputs {a}, {b}, {c} and its constant {k}; the comment
# counts its nodes (operators, calls and constants; inputs are shared).
SHAPES = (
    "{k}*tanh({a}*{b} + {c})",  # const, mul, add, tanh, mul: 5
    "sigmoid({a} - {k}*{b})*{c}",  # const, mul, sub, sigmoid, mul: 5
    "exp(-{k}*{a}*{a})*{b}*{c}",  # const, neg, mul, mul, exp, mul, mul: 7
    "tanh({a})*sigmoid({b}*{c} + {k})*{a}",  # tanh, mul, const, add, sigmoid, mul, mul: 7
    "{a}*{b}*tanh({c}*{k} - exp({a}*{k}))",  # mul, mul, const, mul, mul, const, exp, sub, tanh: 9
)


def program(terms: int = 10_000, inputs: int = 51) -> str:
    """The program text, its `# at:` line first."""
    names = [f"x{i}" for i in range(inputs)]
    point = ", ".join(f"{name}={((i * 37) % 101 - 50) / 60:.6g}" for i, name in enumerate(names))
    parts = []
    for k in range(terms):
        shape = SHAPES[k % len(SHAPES)]
        a, b, c = names[k % inputs], names[(7 * k + 3) % inputs], names[(13 * k + 5) % inputs]
        constant = f"{0.1 + (k % 17) / 20:.2f}"
        parts.append(shape.format(a=a, b=b, c=c, k=constant))
    lines = [f"# at: {point}"]
    # One term a line, each added to the running sum.
    lines.append(f"s = {parts[0]}")
    lines.extend(f"s = s + {part}" for part in parts[1:])
    lines.append("s")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("terms", type=int, nargs="?", default=10_000)
    parser.add_argument("--inputs", type=int, default=51)
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    args = parser.parse_args()
    text = program(args.terms, args.inputs)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
