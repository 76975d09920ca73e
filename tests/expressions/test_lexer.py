"""Literals and tokens, from GitHub's "Literals" section and its lexer rules."""

from __future__ import annotations

import math

import pytest

from stageline.expressions import ExpressionError, evaluate
from stageline.expressions.lexer import Kind, tokenize


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The docs' "Example of literals".
        ("null", None),
        ("false", False),
        ("true", True),
        ("711", 711.0),
        ("-9.2", -9.2),
        ("0xff", 255.0),
        ("-2.99e-2", -0.0299),
        ("'It''s open source!'", "It's open source!"),
        # Other number forms GitHub's lexer accepts.
        ("0o17", 15.0),
        ("0xFF", 255.0),
        ("1E3", 1000.0),
        ("+5", 5.0),
        ("5.", 5.0),
        (".5", 0.5),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("''", ""),
        ("''''", "'"),
        ("'a}}b'", "a}}b"),
    ],
)
def test_literals(expression: str, expected: object) -> None:
    result = evaluate(expression, {})
    assert result == expected
    assert type(result) is type(expected)


def test_nan_literal() -> None:
    assert math.isnan(evaluate("NaN", {}))


def test_hex_and_octal_are_32_bit_signed_like_dotnet() -> None:
    assert evaluate("0x7fffffff", {}) == 2147483647.0
    assert evaluate("0xffffffff", {}) == -1.0
    assert evaluate("0o37777777777", {}) == -1.0


@pytest.mark.parametrize(
    "expression",
    [
        '"double quoted"',  # the docs: double quotes throw an error
        "'unclosed",
        "1.2.3",
        "0x",
        "0x1g",
        "0x100000000",
        "1-2",
        "a = b",
        "a & b",
        "a | b",
        "a @ b",
    ],
)
def test_malformed_tokens_are_errors(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, {"a": 1, "b": 2, "TRUE": 1})


def test_keywords_are_case_sensitive_but_names_are_not() -> None:
    # `True` is not the boolean: it is a context name, which compares case-insensitively.
    assert evaluate("True", {"true": "context"}) == "context"
    assert evaluate("NULL", {"null": 5}) == 5.0


def test_dot_is_a_number_after_an_operator_and_a_dereference_after_a_name() -> None:
    kinds = [token.kind for token in tokenize("a.b == .5")]
    assert kinds == [
        Kind.NAMED_VALUE,
        Kind.DEREFERENCE,
        Kind.PROPERTY,
        Kind.OPERATOR,
        Kind.NUMBER,
    ]


def test_names_may_contain_dashes_and_keywords_after_a_dot_are_properties() -> None:
    tokens = tokenize("steps.my-step.outputs.null")
    assert [(t.kind, t.text) for t in tokens if t.kind is not Kind.DEREFERENCE] == [
        (Kind.NAMED_VALUE, "steps"),
        (Kind.PROPERTY, "my-step"),
        (Kind.PROPERTY, "outputs"),
        (Kind.PROPERTY, "null"),
    ]


def test_a_name_followed_by_a_parenthesis_is_a_function() -> None:
    tokens = tokenize("format ('x')")
    assert [t.kind for t in tokens[:2]] == [Kind.FUNCTION, Kind.START_CALL]


def test_token_offsets() -> None:
    assert [t.offset for t in tokenize("  a  == 'x'")] == [2, 5, 8]
