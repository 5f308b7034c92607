"""The graph, its gates, the forward and backward passes, and the SymPy cross-check."""

from backprop.engine.api import Check, NodeResult, Result, evaluate
from backprop.engine.errors import DomainError, InputError, NumericError

__all__ = ["Check", "DomainError", "InputError", "NodeResult", "NumericError", "Result", "evaluate"]
