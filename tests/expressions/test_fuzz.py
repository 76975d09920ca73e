"""Hypothesis: no input makes the expression language fail with anything but ExpressionError.

Two kinds of input: arbitrary text (mostly garbage, biased towards the
characters the lexer cares about) and generated expressions that are usually
well-formed, so evaluation, coercion and every function get exercised too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stageline.expressions import (
    FUNCTION_NAMES,
    ExpressionError,
    evaluate,
    evaluate_condition,
    evaluate_template,
    iter_templates,
    parse,
)

FUZZ = settings(max_examples=400, deadline=None)
CONTEXTS: dict[str, Any] = {
    "a": {"x": [1, {"y": 2.5}], "k": "v", "y": None, "K": "upper"},
    "b": [[1, 2], {"x": "s"}, "0x10"],
    "c": "true",
}
PLAIN = (type(None), bool, float, str, list, dict)


def _hash(patterns: Sequence[str]) -> str:
    return "|".join(patterns)


def _assert_positioned(error: ExpressionError, text: str) -> None:
    assert 0 <= error.offset <= len(text), (error.offset, text)
    assert error.message.endswith(f"at column {error.offset + 1}"), error.message


LEXER_ALPHABET = [*"abcxyk_-.*[](),'!=<>&|{}$ 0123456789xoeE+\"@\t\n", "${{", "}}"]
raw_text = st.one_of(
    st.lists(st.sampled_from(LEXER_ALPHABET), max_size=40).map("".join),
    st.text(max_size=30),
)

names = st.sampled_from(["a", "b", "c", "A", "unknown"])
accessors = st.sampled_from([".x", ".y", ".k", ".*", "[0]", "[1]", "['k']", "[*]", "[-1]", "[c]"])
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=0, max_value=2**33).map(hex),
    st.sampled_from(["NaN", "Infinity", "-Infinity", ".5", "0o777", "-0"]),
)
strings = st.text(max_size=8).map(lambda text: "'" + text.replace("'", "''") + "'")
json_strings = st.sampled_from(["'[1, {\"x\": 2}]'", "'{\"k\": [true, null]}'", "'bad'", "''"])
format_strings = st.sampled_from(["'{0}-{1}'", "'{{{0}}}'", "'{2}'", "'{0:x}'", "'}'"])
leaves = st.one_of(
    st.sampled_from(["null", "true", "false"]),
    numbers,
    strings,
    json_strings,
    format_strings,
    st.tuples(names, st.lists(accessors, max_size=4)).map(lambda t: t[0] + "".join(t[1])),
)
operators = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "&&", "||"])
functions = st.sampled_from(sorted(FUNCTION_NAMES))


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, operators, children).map(" ".join),
        children.map(lambda child: "!" + child),
        st.tuples(children, st.lists(accessors, max_size=3)).map(
            lambda t: f"({t[0]})" + "".join(t[1])
        ),
        st.tuples(functions, st.lists(children, max_size=5)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
    )


expressions = st.recursive(leaves, _extend, max_leaves=12)


@FUZZ
@given(raw_text)
def test_parse_raises_only_positioned_expression_errors(text: str) -> None:
    try:
        parse(text)
    except ExpressionError as error:
        _assert_positioned(error, text)


@FUZZ
@given(st.one_of(raw_text, expressions))
def test_evaluate_raises_only_positioned_expression_errors(text: str) -> None:
    try:
        result = evaluate(text, CONTEXTS, status="failure", hash_files=_hash)
    except ExpressionError as error:
        _assert_positioned(error, text)
    else:
        assert isinstance(result, PLAIN)
        assert type(result) is not int


@FUZZ
@given(expressions)
def test_generated_expressions_mostly_evaluate(text: str) -> None:
    """The generator is not just producing syntax errors: a valid parse evaluates or
    fails for a reason of the language (unknown name, bad JSON, bad format...)."""
    try:
        parse(text)
    except ExpressionError as error:
        _assert_positioned(error, text)
        return
    try:
        evaluate(text, CONTEXTS, hash_files=_hash)
    except ExpressionError as error:
        _assert_positioned(error, text)
        reasons = ("named-value", "fromJSON", "format", "case", "toJSON")
        assert any(reason in error.message for reason in reasons), error.message


TEMPLATE_ALPHABET = ["${{", "}}", "}", "{", "'", "$", " ", "a", "x", "==", "1", "true", "\n"]
templates = st.one_of(
    st.lists(st.sampled_from(TEMPLATE_ALPHABET), max_size=20).map("".join),
    st.lists(
        st.one_of(st.text(max_size=5), expressions.map(lambda e: "${{ " + e + " }}")), max_size=3
    ).map("".join),
)


@FUZZ
@given(templates)
def test_iter_templates_finds_every_opening(text: str) -> None:
    try:
        found = list(iter_templates(text))
    except ExpressionError as error:
        _assert_positioned(error, text)
        assert text.startswith("${{", error.offset)
        return
    for offset, inner in found:
        assert text.startswith("${{" + inner + "}}", offset)
    assert len(found) >= (1 if "${{" in text else 0)


@FUZZ
@given(templates, st.sampled_from(["success", "failure", "cancelled"]))
def test_templates_and_conditions_raise_only_expression_errors(text: str, status: str) -> None:
    for function in (evaluate_template, evaluate_condition):
        try:
            result = function(text, CONTEXTS, status=status, hash_files=_hash)
        except ExpressionError as error:
            _assert_positioned(error, text)
        else:
            assert isinstance(result, PLAIN)
    if "${{" not in text:
        assert evaluate_template(text, CONTEXTS) == text
