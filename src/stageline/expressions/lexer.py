"""Turn an expression into tokens, the way GitHub's lexer does.

A few token kinds depend on the token before: ``.`` starts a number (``.5``)
where an operand may begin and is a dereference elsewhere; a keyword after
``.`` is a property name (so ``github.null`` reads the key ``null``); a keyword
followed by ``(`` is a function. Words run to the next boundary character, so
``steps.my-step`` is one property and ``1-2`` one (invalid) number: there is no
arithmetic. The lexer never raises: a bad token becomes ``UNEXPECTED`` and the
parser reports it when it gets there, so the first fault in reading order wins.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

from stageline.expressions.coercion import parse_number


class Kind(enum.Enum):
    """Token kinds."""

    START_GROUP = "("
    START_CALL = "call("
    END_PAREN = ")"
    START_INDEX = "["
    END_INDEX = "]"
    SEPARATOR = ","
    DEREFERENCE = "."
    WILDCARD = "*"
    OPERATOR = "operator"
    NULL = "null"
    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    PROPERTY = "property"
    FUNCTION = "function"
    NAMED_VALUE = "named-value"
    UNEXPECTED = "unexpected"


class Token(NamedTuple):
    """One token: its kind, its text as written, its 0-based offset and its value."""

    kind: Kind
    text: str
    offset: int
    value: bool | float | str | None = None


_BOUNDARY = frozenset("()[],.!><=&|")
_OPERATORS = ("!=", ">=", "<=", "==", "&&", "||", "!", ">", "<")
# After these a "." begins a number rather than dereferencing something.
_OPERAND_STARTS = frozenset(
    {None, Kind.SEPARATOR, Kind.START_GROUP, Kind.START_CALL, Kind.START_INDEX, Kind.OPERATOR}
)
_SINGLE = {"[": Kind.START_INDEX, "]": Kind.END_INDEX, ",": Kind.SEPARATOR, "*": Kind.WILDCARD}
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_KEYWORD_CHARS = _ASCII_LETTERS | frozenset("0123456789-")


def _is_boundary(char: str) -> bool:
    return char in _BOUNDARY or char.isspace()


def is_keyword(word: str) -> bool:
    """A legal name: an ASCII letter or ``_`` then letters, digits, ``_`` or ``-``."""
    return bool(word) and word[0] in _ASCII_LETTERS and all(c in _KEYWORD_CHARS for c in word)


def tokenize(expression: str) -> list[Token]:
    """Every token of `expression`, in order."""
    tokens: list[Token] = []
    last: Kind | None = None
    index, length = 0, len(expression)
    while True:
        while index < length and expression[index].isspace():
            index += 1
        if index >= length:
            return tokens
        char = expression[index]
        if char == "(":
            kind = Kind.START_CALL if last is Kind.FUNCTION else Kind.START_GROUP
            token, index = Token(kind, char, index), index + 1
        elif char == ")":
            token, index = Token(Kind.END_PAREN, char, index), index + 1
        elif char in _SINGLE:
            token, index = Token(_SINGLE[char], char, index), index + 1
        elif char == "'":
            token, index = _read_string(expression, index)
        elif char == "." and last not in _OPERAND_STARTS:
            token, index = Token(Kind.DEREFERENCE, char, index), index + 1
        elif char in "!<>=&|":
            token, index = _read_operator(expression, index)
        elif char in "+-." or "0" <= char <= "9":
            token, index = _read_number(expression, index)
        else:
            token, index = _read_keyword(expression, index, last)
        tokens.append(token)
        last = token.kind


def _read_string(expression: str, start: int) -> tuple[Token, int]:
    """A single-quoted string; ``''`` inside is one quote."""
    parts: list[str] = []
    index = start + 1
    while True:
        end = expression.find("'", index)
        if end < 0:
            return Token(Kind.UNEXPECTED, expression[start:], start), len(expression)
        parts.append(expression[index:end])
        if expression.startswith("'", end + 1):
            parts.append("'")
            index = end + 2
            continue
        text = expression[start : end + 1]
        return Token(Kind.STRING, text, start, "".join(parts)), end + 1


def _read_operator(expression: str, start: int) -> tuple[Token, int]:
    for operator in _OPERATORS:
        if expression.startswith(operator, start):
            return Token(Kind.OPERATOR, operator, start), start + len(operator)
    end = start + 1  # a lone "=", "&" or "|": report it with the word it starts
    while end < len(expression) and not _is_boundary(expression[end]):
        end += 1
    return Token(Kind.UNEXPECTED, expression[start:end], start), end


def _read_number(expression: str, start: int) -> tuple[Token, int]:
    end = start + 1
    while end < len(expression) and (expression[end] == "." or not _is_boundary(expression[end])):
        end += 1
    text = expression[start:end]
    number = parse_number(text)
    if math.isnan(number):
        return Token(Kind.UNEXPECTED, text, start), end
    return Token(Kind.NUMBER, text, start, number), end


_CONSTANTS: dict[str, tuple[Kind, bool | float | None]] = {
    "null": (Kind.NULL, None),
    "true": (Kind.BOOLEAN, True),
    "false": (Kind.BOOLEAN, False),
    "NaN": (Kind.NUMBER, math.nan),
    "Infinity": (Kind.NUMBER, math.inf),
}


def _read_keyword(expression: str, start: int, last: Kind | None) -> tuple[Token, int]:
    end = start + 1
    while end < len(expression) and not _is_boundary(expression[end]):
        end += 1
    word = expression[start:end]
    if not is_keyword(word):
        return Token(Kind.UNEXPECTED, word, start), end
    if last is Kind.DEREFERENCE:
        return Token(Kind.PROPERTY, word, start, word), end
    if word in _CONSTANTS:
        kind, value = _CONSTANTS[word]
        return Token(kind, word, start, value), end
    after = end
    while after < len(expression) and expression[after].isspace():
        after += 1
    if after < len(expression) and expression[after] == "(":
        return Token(Kind.FUNCTION, word, start), end
    return Token(Kind.NAMED_VALUE, word, start), end
