"""Spans and the base of every error backprop raises."""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """Character offsets [start, end) into the program text (a tuple: cheap to make)."""

    start: int
    end: int

    def line_col(self, source: str) -> tuple[int, int]:
        """1-based line and column of `start` (computed only when rendering)."""
        line = source.count("\n", 0, self.start) + 1
        col = self.start - (source.rfind("\n", 0, self.start) + 1) + 1
        return line, col


def printable(text: str, keep: str = "") -> str:
    """`text` safe for a terminal: each unprintable character (an escape, BEL, a
    bidi override, a newline unless kept) becomes U+FFFD. Program text, comments
    and file names are the user's and reach tables, messages and drawings."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else "\ufffd" for c in text)


class BackpropError(Exception):
    """Bad input of any kind: a message for the user and, where known, a span."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


class ParseError(BackpropError):
    """The program text is not in the language."""
