"""Text to syntax tree: the language of backprop (see SPEC.md, "The language")."""

from backprop.parser.errors import (
    BackpropError,
    ParseError,
    Span,
    name_list,
    printable,
    quote,
    shorten,
)
from backprop.parser.lang import CONSTANTS, FUNCTIONS, MAX_DEPTH, MAX_SOURCE
from backprop.parser.lexer import Token, tokenize
from backprop.parser.parse import parse
from backprop.parser.tree import (
    Assign,
    Binary,
    Call,
    Expr,
    Name,
    Num,
    Program,
    Unary,
    to_sexpr,
)

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_SOURCE",
    "Assign",
    "BackpropError",
    "Binary",
    "Call",
    "Expr",
    "Name",
    "Num",
    "ParseError",
    "Program",
    "Span",
    "Token",
    "Unary",
    "parse",
    "name_list",
    "printable",
    "quote",
    "shorten",
    "to_sexpr",
    "tokenize",
]
