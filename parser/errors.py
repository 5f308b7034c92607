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


QUOTED = 80  # characters of user text a message quotes
LISTED = 10  # names a message lists


def shorten(text: str, limit: int = QUOTED, *, tail: bool = False) -> str:
    """`text`, or its first `limit` characters, `…` and how long it was; with
    `tail`, its last ones (a file path, whose end names the file)."""
    if len(text) <= limit:
        return text
    if tail:
        return f"…{text[-limit:]} ({len(text):,} characters)"
    return f"{text[:limit]}…({len(text):,} characters)"


def quote(text: str, limit: int = QUOTED) -> str:
    """User text quoted for a message (as repr does), at most `limit` characters of it:
    a message stays a few lines long whatever the user typed."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}…({len(text):,} characters)"


def name_list(names: list[str], limit: int = LISTED) -> str:
    """`a, b, c`: at most `limit` names, each shortened, then how many more."""
    shown = ", ".join(shorten(name) for name in names[:limit])
    more = len(names) - limit
    return shown + (f" (and {more:,} more)" if more > 0 else "")


# What an error is about, for scripts: the JSON error's "kind".
KINDS = ("syntax", "name", "input", "domain", "numeric", "usage", "limit", "io", "internal")


class BackpropError(Exception):
    """Bad input of any kind: a message for the user, where known a span, and its kind."""

    kind = "input"

    def __init__(self, message: str, span: Span | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        if kind is not None:
            assert kind in KINDS, kind
            self.kind = kind


class ParseError(BackpropError):
    """The program text is not in the language."""

    kind = "syntax"
