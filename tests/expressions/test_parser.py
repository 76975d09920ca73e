"""Syntax: precedence, the AST's shape, positioned syntax errors, depth and length limits."""

from __future__ import annotations

import pytest

from stageline.expressions import ExpressionError, check, evaluate, parse
from stageline.expressions.nodes import (
    And,
    Call,
    Compare,
    Index,
    Literal,
    NamedValue,
    Not,
    Or,
    Wildcard,
    walk,
)


def test_and_binds_tighter_than_or() -> None:
    # GitHub's docs: `a == b && 'x' || 'y'` is `((a == b) && 'x') || 'y'`.
    root = parse("github.ref == 'refs/heads/main' && 'value_for_main_branch' || 'other'")
    assert isinstance(root, Or)
    first, second = root.operands
    assert isinstance(first, And)
    assert isinstance(first.operands[0], Compare)
    assert second == Literal(62, "other")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("!2 < 3", True),  # ! binds tighter than <: (!2) < 3 → false < 3
        ("!(2 < 3)", False),
        ("3 < 2 < 1", True),  # left to right: (3 < 2) < 1 → false < 1
        ("3 < (2 < 1)", False),
        ("2 == 1 < 2", False),  # < binds tighter than ==: 2 == (1 < 2) → 2 == true → false
        ("(2 == 1) < 2", True),
        ("false && true || true", True),
        ("false && (true || true)", False),
        ("true || true && false", True),
        ("(true || true) && false", False),
        ("!foo.bar", False),
        ("(!foo).bar", None),
    ],
)
def test_precedence(expression: str, expected: object) -> None:
    assert evaluate(expression, {"foo": {"bar": True}}) == expected


def test_property_access_is_an_index_with_a_string_key() -> None:
    root = parse("a.b['c'][*].*")
    assert root == Index(
        0,
        Index(
            0,
            Index(0, Index(0, NamedValue(0, "a"), Literal(2, "b")), Literal(4, "c")),
            Wildcard(9),
        ),
        Wildcard(12),
    )


def test_and_chains_are_flattened_like_githubs() -> None:
    root = parse("a && (b && c) && d")
    assert isinstance(root, And)
    assert [node.name for node in root.operands if isinstance(node, NamedValue)] == list("abcd")


def test_calls_keep_githubs_spelling_of_the_name() -> None:
    root = parse("TOJSON(fromjson('[]'))")
    assert isinstance(root, Call)
    assert root.name == "toJSON"
    assert isinstance(root.args[0], Call) and root.args[0].name == "fromJSON"


def test_walk_visits_every_node_in_order() -> None:
    root = parse("!contains(a, 'x')")
    assert [type(node).__name__ for node in walk(root)] == [
        "Not",
        "Call",
        "NamedValue",
        "Literal",
    ]
    assert isinstance(root, Not)


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("a ==", "Unexpected end of expression", 4),
        ("a == @", "Unexpected symbol: '@'", 6),
        ("a b", "Unexpected symbol: 'b'", 3),
        ("'abc'.length", "Unexpected symbol: '.'", 6),  # no access on literals
        ("'abc'[0]", "Unexpected symbol: '['", 6),
        ("a.5", "Unexpected symbol: '5'", 3),
        ("(a, b)", "Unexpected symbol: ','", 3),
        ("()", "Unexpected symbol: ')'", 2),
        ("a)", "Unexpected symbol: ')'", 2),
        ("(a", "Unexpected end of expression", 2),
        ("a[]", "Unexpected symbol: ']'", 3),
        ("a[1", "Unexpected end of expression", 3),
        ("*", "Unexpected symbol: '*'", 1),
        ("a.*b", "Unexpected symbol: 'b'", 4),
        ("format('{0}',)", "Unexpected symbol: ')'", 14),
        ("format(,'x')", "Unexpected symbol: ','", 8),
        ("contains('a' 'b')", "Unexpected symbol: \"'b'\"", 14),
        ("a.b(1)", "Unexpected symbol: '('", 4),
        ("true(1)", "Unexpected symbol: '('", 5),
        ("!", "Unexpected end of expression", 1),
        ("a == == b", "Unexpected symbol: '=='", 6),
        ("   ", "Expected an expression", 4),
        ("foo(1)", "Unrecognized function: 'foo'", 1),
        ("join()", "Too few parameters supplied: 'join'", 1),
        ("join(a, b, c)", "Too many parameters supplied: 'join'", 1),
        ("success(1)", "Too many parameters supplied: 'success'", 1),
        ("contains('a')", "Too few parameters supplied: 'contains'", 1),
        ("case(true, 1)", "Too few parameters supplied: 'case'", 1),
        ("case(true, 1, false, 2)", "case requires an odd number of arguments", 1),
    ],
)
def test_syntax_errors_name_the_column(expression: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    assert caught.value.message == f"{message} at column {column}"
    assert caught.value.offset == column - 1


def _nested_not(levels: int) -> str:
    return "!" * levels + "true"


def test_depth_50_is_allowed_and_51_is_not() -> None:
    assert parse(_nested_not(49)).height == 50
    with pytest.raises(ExpressionError, match="Exceeded max expression depth 50"):
        parse(_nested_not(50))


def test_depth_counts_comparison_chains_and_calls() -> None:
    chain = " < ".join(["1"] * 50)  # 49 comparisons: a tree 50 levels tall
    assert parse(chain).height == 50
    with pytest.raises(ExpressionError, match="depth 50"):
        parse(chain + " < 1")
    calls = "toJSON(" * 49 + "1" + ")" * 49
    assert parse(calls).height == 50
    with pytest.raises(ExpressionError, match="depth 50"):
        parse("toJSON(" + calls + ")")


def test_long_and_chains_are_shallow() -> None:
    expression = " && ".join(["true"] * 500)
    assert parse(expression).height == 2
    assert evaluate(expression, {}) is True


def test_deep_parentheses_stop_at_the_depth_limit_without_recursion_errors() -> None:
    with pytest.raises(ExpressionError, match="depth 50"):
        parse("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(ExpressionError, match="depth 50"):
        parse("a" + "[a" * 5000)


def test_expression_length_is_capped_like_githubs() -> None:
    at_limit = "'" + "x" * 20998 + "'"
    assert evaluate(at_limit, {}) == "x" * 20998
    with pytest.raises(ExpressionError, match="Exceeded max expression length 21000"):
        parse(at_limit + " ")


class TestCheck:
    CONTEXTS = ("github", "env", "matrix")

    def test_accepts_known_names_in_any_case(self) -> None:
        check("GitHub.ref == 'x' && ENV.foo && matrix.os", self.CONTEXTS)

    def test_rejects_unknown_named_values_with_a_hint(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            check("github.ref == secrets.token", self.CONTEXTS)
        assert caught.value.message == "Unrecognized named-value: 'secrets' at column 15"
        assert caught.value.hint == "contexts available here: env, github, matrix"

    def test_rejects_functions_not_allowed_here(self) -> None:
        check("success() && github.ref", self.CONTEXTS)
        with pytest.raises(ExpressionError) as caught:
            check("contains(github.ref, 'x') || Success()", self.CONTEXTS, functions={"contains"})
        assert caught.value.message == "Function 'success' is not allowed here at column 30"

    def test_function_names_compare_in_any_case(self) -> None:
        check("TOJSON(github)", self.CONTEXTS, functions={"toJSON"})

    def test_reports_the_first_fault_in_reading_order(self) -> None:
        with pytest.raises(ExpressionError, match="'always' is not allowed here at column 1"):
            check("always() && nope", self.CONTEXTS, functions=())

    def test_syntax_errors_come_first(self) -> None:
        with pytest.raises(ExpressionError, match="Unexpected symbol"):
            check("nope @", self.CONTEXTS)
