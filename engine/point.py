"""The point: `--at NAME=VALUE` texts and a sample's `# at:` line, validated."""

from __future__ import annotations

import re
from collections.abc import Iterable

from backprop.engine.errors import InputError
from backprop.parser.errors import ParseError, Span, quote, shorten
from backprop.parser.lexer import NAME_RE, NUMBER_RE, describe_character, to_float

# A line's end may be CRLF, and the first line may start with a byte-order mark.
# `# At:` and `# AT:` are read too: a point silently ignored is worse than either.
AT_LINE = re.compile(r"^\ufeff?[ \t]*#[ \t]*at:([^\r\n]*)", re.MULTILINE | re.IGNORECASE)


def parse_at(items: Iterable[str], where: str = "--at") -> list[tuple[str, float]]:
    """`["w0=2", "x0=-1,w1=-3"]` -> [("w0", 2.0), ("x0", -1.0), ("w1", -3.0)].

    Values follow the language's NUMBER grammar with an optional sign:
    no nan, inf, 1_000 or hexadecimal, whatever Python's float() accepts.
    """
    pairs: list[tuple[str, float]] = []
    for item in items:
        for part in item.split(","):
            name, eq, value = (piece.strip(" \t") for piece in part.partition("="))
            if not part.strip(" \t") and len(item.split(",")) > 1:
                continue  # tolerate a trailing comma: "x=1,"
            if not eq or not name:
                raise InputError(f"{where} expects NAME=VALUE, got {quote(part.strip())}")
            if not NAME_RE.fullmatch(name):
                raise InputError(f"{where} name {quote(name)} is not a valid name")
            pairs.append((name, _number(name, value, where)))
    return pairs


def parse_direction(items: Iterable[str]) -> dict[str, float]:
    """`--direction x=1,y=0` as a mapping; a name given twice is an error, as in --at."""
    pairs = parse_at(items, where="--direction")
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise InputError(f"{shorten(name)} is given twice in --direction")
        seen.add(name)
    return dict(pairs)


def _number(name: str, text: str, where: str) -> float:
    digits = text[1:] if text[:1] in "+-" else text
    if not NUMBER_RE.fullmatch(digits):
        odd = next((c for c in text if not c.isascii()), None)  # as the lexer names it
        hint = f": it contains {describe_character(odd)}" if odd else ""
        raise InputError(
            f"{where} value for {name} must be a decimal number such as 2, -0.5 or 1e-3, "
            f"got {quote(text)}{hint}"
        )
    try:
        value = to_float(digits, None)  # type: ignore[arg-type]
    except ParseError as err:
        raise InputError(f"{where} value for {name}: {err.message}") from None
    return -value if text.startswith("-") else value


def defaults(source: str) -> list[tuple[str, float]]:
    """The point a sample file carries in `# at: w0=2, x0=-1` comment lines."""
    pairs: list[tuple[str, float]] = []
    seen: set[str] = set()
    if "#" not in source:  # no comment, no point (and no scan of a long program)
        return pairs
    for match in AT_LINE.finditer(source):
        try:
            found = parse_at([match.group(1)], where="'# at:'")
        except InputError as err:  # point at the line in the program
            raise InputError(err.message, Span(match.start(), match.end())) from None
        for name, value in found:
            if name in seen:
                raise InputError(
                    f"{shorten(name)} is given twice in the '# at:' lines",
                    Span(match.start(), match.end()),
                )
            seen.add(name)
            pairs.append((name, value))
    return pairs


def merge(defaults: list[tuple[str, float]], given: list[tuple[str, float]]) -> dict[str, float]:
    """The sample's point overridden by `--at`; a name given twice in `--at` is an error."""
    seen: set[str] = set()
    for name, _ in given:
        if name in seen:
            raise InputError(f"{shorten(name)} is given twice in --at")
        seen.add(name)
    return {**dict(defaults), **dict(given)}
