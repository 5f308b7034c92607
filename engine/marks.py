"""Which gates sit at a kink and which inputs a gate is flat in, read from the gate table.

A picture marks both: a kink (relu or abs at 0, a tie in max/min) is where
PyTorch's convention chose the local derivative; a flat input (relu below
0, the inputs a max does not pick, `x**0`) is one the gate passes nothing
back to. Both come from the table's own `kink` and `flat` predicates at
the forward values, so the marks agree with eval's notes and the passes.
"""

from __future__ import annotations

from collections.abc import Mapping

from backprop.engine.api import Result
from backprop.engine.gates import GATES, Gate


def kinks(result: Result, gates: Mapping[str, Gate] = GATES) -> dict[int, str]:
    """Node id -> the kink note that eval gave it (only nodes eval noted)."""
    nodes = result.nodes
    found: dict[int, str] = {}
    for node in nodes:
        gate = gates.get(node.op)
        if not node.inputs or gate is None or gate.kink is None:
            continue
        note = gate.kink(*[nodes[j].value for j in node.inputs], node.value)
        if note and note in node.notes:  # eval dropped a tie between constants
            found[node.id] = note
    return found


def flat_inputs(result: Result, gates: Mapping[str, Gate] = GATES) -> set[tuple[int, int]]:
    """(gate id, input position) where the gate is flat in that input at the point."""
    nodes = result.nodes
    found: set[tuple[int, int]] = set()
    for node in nodes:
        gate = gates.get(node.op)
        if not node.inputs or gate is None or gate.flat is None or node.grad is None:
            continue
        flags = gate.flat(*[nodes[j].value for j in node.inputs], node.value)
        found.update((node.id, k) for k, flat in enumerate(flags) if flat)
    return found
