"""The graph, its gates, the forward and backward passes, and the SymPy cross-check."""

from backprop.engine.api import Check, NodeResult, Result, evaluate
from backprop.engine.errors import DomainError, InputError, NumericError

__all__ = ["Check", "DomainError", "InputError", "NodeResult", "NumericError", "Result", "evaluate"]


def __getattr__(name: str) -> object:
    # compile(source).evaluate(arrays): imported on first use, so that evaluate()
    # alone never loads numpy (engine/points.py).
    if name == "compile":
        from backprop.engine.points import compile

        return compile
    raise AttributeError(f"module 'backprop.engine' has no attribute {name!r}")
