"""Errors the engine raises: all are BackpropError, so the CLI exits 2 on them."""

from backprop.parser.errors import BackpropError


class InputError(BackpropError):
    """A missing, unknown, repeated or malformed `--at` value."""


class DomainError(BackpropError):
    """A gate's input is outside its domain at this point (log(-1), 1/0, ...)."""

    kind = "domain"


class NumericError(BackpropError):
    """A forward value overflowed to infinity."""

    kind = "numeric"
