"""Golden scenarios of second derivatives, forward mode and several outputs (plain data).

Each entry is the keyword arguments of a tests/test_golden.py `Scenario`.
"""

from __future__ import annotations

from typing import Any

SECOND_ORDER: list[dict[str, Any]] = [
    {
        "name": "hessian_perceptron",
        "shows": "the perceptron's 5 x 5 Hessian, symmetric bit for bit, its eigenvalues "
        "(indefinite), each entry checked by SymPy",
        "args": "hessian -f samples/perceptron.bp",
    },
    {
        "name": "hessian_perceptron_json",
        "shows": "the same as strict JSON: inputs, hessian rows, eigenvalues, definiteness, check",
        "args": "hessian -f samples/perceptron.bp --json",
    },
    {
        "name": "hessian_saddle",
        "shows": "x^2 - y^2 at 0: the gradient is 0 and the Hessian indefinite, a saddle",
        "args": "hessian 'x^2 - y^2' --at x=0,y=0",
    },
    {
        "name": "hessian_kink_relu_at_zero",
        "shows": "relu at 0: PyTorch's relu'(0) = 0 gives d2/dxdy = 0; those entries are n/a",
        "args": "hessian 'relu(x)*y + x^2' --at x=0,y=2",
    },
    {
        "name": "explain_forward_perceptron",
        "shows": "forward mode on the perceptron along w0: each gate multiplies the tangents "
        "by its local derivatives; the output's tangent is dout/dw0 = -0.1966",
        "args": "explain --forward -f samples/perceptron.bp",
    },
    {
        "name": "explain_forward_circuit",
        "shows": "forward mode on (x+y)*z along x = y = 1: the add gate's tangent 2, "
        "the output's -8 = (dx + dy) * z",
        "args": "explain --forward -f samples/circuit.bp --direction x=1,y=1",
    },
    {
        "name": "eval_direction_circuit",
        "shows": "eval --direction adds a tangent column and the directional derivative -8",
        "args": "eval -f samples/circuit.bp --direction x=1,y=1",
    },
    {
        "name": "eval_outputs_json",
        "shows": "eval --output u --output v: gradients per output in JSON",
        "args": "eval 'u = x*y; v = x + sin(y)' --at x=2,y=0.5 --output u --output v --json",
    },
    {
        "name": "jacobian_two_outputs",
        "shows": "the Jacobian of two outputs by two inputs, in reverse mode (2 sweeps either way)",
        "args": "jacobian 'u = x*y; v = x + sin(y)' --output u --output v --at x=2,y=0.5",
    },
    {
        "name": "jacobian_forward_mode",
        "shows": "three outputs, two inputs: forward mode takes fewer sweeps, and says so",
        "args": "jacobian 'u = x*y; v = x + y; w = tanh(x - y)' --output u,v,w --at x=1,y=2",
    },
    {
        "name": "grad_order_6_tanh",
        "shows": "the 6th derivative of tanh as a program, with the size of its graph",
        "args": "grad 'tanh(x)' --order 6",
    },
]
