"""Golden scenarios of `backprop explain` and `backprop graph` (tests/golden/explain_*, graph_*).

Plain data, so that tests/test_golden.py can run them beside the eval
scenarios without an import cycle: each entry is the keyword arguments of
its `Scenario` (name, shows, args, and optionally stdin and exit).
"""

from __future__ import annotations

from typing import Any

SAMPLES = ("circuit", "perceptron", "staged", "tanh_neuron", "relu_max", "fanout")

# A comment inside parentheses is part of a sub-expression, so it reaches the
# drawing's labels: every character that means something in DOT or Mermaid is in it.
TRICKY_PROGRAM = 'a = (x + # say "hi" \\ <b> {c} | d & #1 `e`\n  y)\na * 2\n'

EXPLAIN: list[dict[str, Any]] = [
    {
        "name": "explain_perceptron",
        "shows": "the seed's perceptron walked through gate by gate: 1/x, +1, exp, *-1, "
        "the sums, the products",
        "args": "explain -f samples/perceptron.bp",
    },
    {
        "name": "explain_perceptron_seed_precision",
        "shows": "at 2 digits, the seed's numbers: -0.53 into 1/x and through +1, -0.20 "
        "through exp, 0.20 through *-1 and the sums, dw0 -0.20, dx0 0.39 (the seed rounds to 0.4)",
        "args": "explain -f samples/perceptron.bp --precision 2",
    },
    {
        "name": "explain_perceptron_json",
        "shows": "the perceptron's steps as strict JSON, every float in full",
        "args": "explain -f samples/perceptron.bp --json",
    },
    {
        "name": "explain_circuit",
        "shows": "the seed's circuit (x+y)*z: the add gate hands z = -4 to x and y, "
        "the multiply gate gives z the other factor 3",
        "args": "explain -f samples/circuit.bp",
    },
    {
        "name": "explain_fanout",
        "shows": "x*x + x: x is used three times and its gradient is the sum 1 + 3 + 3 = 7",
        "args": "explain -f samples/fanout.bp",
    },
    {
        "name": "explain_fanout_json",
        "shows": "the fan-out as data: x's gradient lists the three parts it adds up from",
        "args": "explain -f samples/fanout.bp --json",
    },
    {
        "name": "explain_staged",
        "shows": "CS231n's staged example: named steps, 1/x and x^2 gates, x adds up three paths",
        "args": "explain -f samples/staged.bp",
    },
    {
        "name": "explain_tanh_neuron",
        "shows": "a tanh neuron: the tanh gate's local derivative 1 - tanh(n)^2 = 0.5",
        "args": "explain -f samples/tanh_neuron.bp",
    },
    {
        "name": "explain_relu_max",
        "shows": "relu passes the gradient (input 5 > 0); max routes all of it to x, y gets 0",
        "args": "explain -f samples/relu_max.bp",
    },
    {
        "name": "explain_kink_relu_at_zero",
        "shows": "relu at 0: local derivative 0 by PyTorch's rule, and a note that says so",
        "args": "explain 'relu(x - 1) * y' --at x=1,y=2",
    },
    {
        "name": "explain_nonfinite_sqrt_at_zero_json",
        "shows": "sqrt at 0: the infinite local derivative and gradient are null in strict JSON, "
        "with a note",
        "args": "explain 'sqrt(x)' --at x=0 --json",
    },
    {
        "name": "explain_stdin_program",
        "shows": "'-' reads the program from standard input; a constant with no input gets no step",
        "args": "explain - --at x=2",
        "stdin": "y = 2*pi\nx*y\n",
    },
    {
        "name": "explain_error_missing_value",
        "shows": "explain takes eval's input options: a missing value is named, exit 2",
        "args": "explain 'x*y' --at x=1",
        "exit": 2,
    },
]

GRAPH: list[dict[str, Any]] = [
    *(
        {
            "name": f"graph_{sample}_{fmt}",
            "shows": f"samples/{sample}.bp drawn as {what}",
            "args": f"graph -f samples/{sample}.bp --format {fmt}",
        }
        for sample in SAMPLES
        for fmt, what in (
            ("text", "a text tree with values and gradients"),
            ("dot", "Graphviz DOT, gradients on the edges"),
            ("mermaid", "a Mermaid flowchart"),
        )
    ),
    {
        "name": "graph_structure_only_text",
        "shows": "without a point the tree shows the structure alone; x is drawn once, "
        "then referenced",
        "args": "graph 'x*x + x'",
    },
    {
        "name": "graph_unused_statement_text",
        "shows": "a statement that does not reach the output is drawn apart, with gradient 0",
        "args": "graph 'y = x*2; z = y + x; y*y' --at x=1",
    },
    {
        "name": "graph_escaping_dot",
        "shows": "a comment inside a sub-expression is escaped in DOT labels: quotes, "
        "backslashes, < > { } |",
        "args": "graph - --at x=1,y=2 --format dot",
        "stdin": TRICKY_PROGRAM,
    },
    {
        "name": "graph_escaping_mermaid",
        "shows": "the same comment in Mermaid labels, as entity codes (#34; for a quote ...)",
        "args": "graph - --at x=1,y=2 --format mermaid",
        "stdin": TRICKY_PROGRAM,
    },
    {
        "name": "graph_error_output_with_mermaid",
        "shows": "-o draws through Graphviz from DOT: --format mermaid with it is a usage error",
        "args": "graph 'x*y' --format mermaid -o out.svg",
        "exit": 2,
    },
    {
        "name": "graph_error_output_extension",
        "shows": "-o needs a file name ending in .svg or .png",
        "args": "graph 'x*y' -o out.jpg",
        "exit": 2,
    },
]

LEARNING_SCENARIOS: list[dict[str, Any]] = [*EXPLAIN, *GRAPH]
