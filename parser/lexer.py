"""Text to tokens. ASCII only outside comments (PITFALLS: str.isdigit accepts '²')."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

from backprop.parser.errors import ParseError, Span, shorten
from backprop.parser.lang import MAX_NUMBER, MAX_SOURCE

NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
NUMBER_RE = re.compile(NUMBER)
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Each match takes the whitespace before a token with it: half the matches.
_TOKEN_RE = re.compile(
    r"[ \t\r\f\v]*(?:"
    r"(?P<comment>\#[^\n]*)"
    r"|(?P<newline>[\n;])"
    rf"|(?P<number>{NUMBER})"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),=])"
    r"|(?P<bad>[\s\S])"
    r"|(?P<ws>$))"
)

_LOOKALIKES = {
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u00d7": "*",
    "\u00b7": "*",
    "\u00f7": "/",
    "\u00a0": "a space",
    "\u2009": "a space",
}


class Token(NamedTuple):
    """kind is number, name, op, newline (a line end or ';') or end."""

    kind: str
    text: str
    span: Span


def to_float(text: str, span: Span) -> float:
    """The value of a NUMBER literal; a literal that overflows, or a nonzero one
    that underflows to 0.0, is an error (a subnormal such as 1e-310 is kept)."""
    if len(text) > MAX_NUMBER:
        raise ParseError(
            f"number is too long (over {MAX_NUMBER} characters)",
            span,
            kind="limit",
        )
    value = float(text)
    if value == float("inf"):
        raise ParseError(
            f"number {shorten(text)} is too large: it overflows to infinity", span, kind="numeric"
        )
    if value == 0.0 and any(c in "123456789" for c in text.partition("e")[0].partition("E")[0]):
        raise ParseError(
            f"number {shorten(text)} is too small: it underflows to 0 "
            "(the smallest positive float is about 4.9e-324)",
            span,
            kind="numeric",
        )
    return value


def describe_character(char: str) -> str:
    """How a message names a character the language does not have, with the ASCII one
    it looks like: `'−' (U+2212 MINUS SIGN); use '-' instead`."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    shown = repr(char) if char.isprintable() else code
    # An invisible character (a no-break space) is shown by its code point and name.
    what = f"{shown} ({code} {name})" if name and shown != code else f"{code} {name}".rstrip()
    hint = _LOOKALIKES.get(char)
    advice = f"; use {hint!r} instead" if hint and len(hint) == 1 else ""
    if hint == "a space":
        advice = "; use a plain space"
    return what + advice


def _bad_character(char: str, span: Span) -> ParseError:
    return ParseError(f"unexpected character {describe_character(char)}", span)


def _glued(number: str, word: str, span: Span) -> ParseError:
    if number == "0" and word[0] in "xXbBoO":
        return ParseError("only decimal numbers are supported (no 0x, 0b or 0o)", span)
    if word[0] == "_":
        plain = (number + word).replace("_", "")
        return ParseError(f"digit separators are not supported: write {shorten(plain)}", span)
    return ParseError(
        f"a number cannot run into a name: multiplication is written "
        f"{shorten(number, 40)}*{shorten(word, 40)}",
        span,
    )


# A token as the parser reads it: (kind, text, start, end), a plain tuple.
RawToken = tuple[str, str, int, int]


def scan(source: str, start: int | None = None) -> Iterator[RawToken]:
    """The tokens of `source` one at a time, as (kind, text, start, end), then
    ('end', '', n, n): the parser reads them as they come, so a long program's
    tokens are never all held at once. With `start`, from that offset (the
    start of a line: the parser skips a line it has read before)."""
    if len(source) > MAX_SOURCE:
        raise ParseError(
            f"program is too long (over {MAX_SOURCE:,} characters)",
            kind="limit",
        )
    if start is None:
        start = 1 if source.startswith("\ufeff") else 0
    kind = "start"
    text = ""
    end = -1
    for match in _TOKEN_RE.finditer(source, start):
        group = match.lastgroup or "ws"
        if group == "comment" or group == "ws":
            continue
        begin = match.start(group)
        stop = match.end()
        word = source[begin:stop]
        if group == "bad":
            raise _bad_character(word, Span(begin, stop))
        if group == "name" and kind == "number" and end == begin:
            raise _glued(text, word, Span(begin - len(text), stop))
        kind, text, end = group, word, stop
        yield group, word, begin, stop
    yield "end", "", len(source), len(source)


def tokenize(source: str) -> list[Token]:
    """Tokens of `source`, ending with an 'end' token; offsets index `source`."""
    return [Token(kind, text, Span(start, end)) for kind, text, start, end in scan(source)]
