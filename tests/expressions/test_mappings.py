"""Expression keys and `${{ insert }}`: the rules GitHub's parser applies to mappings."""

from __future__ import annotations

from typing import Any

import pytest

from stageline.errors import ExpressionError
from stageline.expressions import evaluate_template
from stageline.expressions.mappings import evaluate_keys, is_insert

CONTEXTS: dict[str, Any] = {
    "needs": {"a": {"outputs": {"key": "os", "m": '{"size": ["s", "m"], "n": 2}'}}},
    "vars": {"FLAG": True},
}


def keys(mapping: dict[str, Any]) -> dict[str, Any]:
    def evaluate(text: str) -> Any:
        return evaluate_template(text, CONTEXTS)

    def value(item: Any) -> Any:
        return evaluate(item) if isinstance(item, str) else item

    return evaluate_keys(mapping, evaluate, value)


def test_an_expression_key_becomes_its_value_as_text() -> None:
    assert keys({"${{ needs.a.outputs.key }}": ["linux"], "x-${{ vars.FLAG }}": 1}) == {
        "os": ["linux"],
        "x-true": 1,
    }


def test_insert_merges_the_mapping_its_expression_gives_in_place() -> None:
    written = {"first": 1, "${{ insert }}": "${{ fromJSON(needs.a.outputs.m) }}", "last": 3}
    merged = keys(written)
    assert merged == {"first": 1, "size": ["s", "m"], "n": 2, "last": 3}
    assert list(merged) == ["first", "size", "n", "last"]


def test_insert_of_a_written_mapping_evaluates_its_values() -> None:
    assert keys({"${{insert}}": {"k": "${{ needs.a.outputs.key }}"}}) == {"k": "os"}


def test_inserted_values_are_given_to_inserted_not_evaluated_again() -> None:
    found = evaluate_keys(
        {"${{ insert }}": '${{ fromJSON(\'{"n": 2, "t": "${{ x }}"}\') }}'},
        lambda text: evaluate_template(text, CONTEXTS),
        lambda item: pytest.fail("a written value"),
        lambda item: f"<{item}>",
    )
    assert found == {"n": "<2.0>", "t": "<${{ x }}>"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"os": 1, "${{ needs.a.outputs.key }}": 2}, "'os' is already defined"),
        ({"size": 1, "${{ insert }}": "${{ fromJSON(needs.a.outputs.m) }}"}, "'size' is already"),
        (
            {"${{ insert }}": "${{ needs.a.outputs.key }}"},
            "${{ insert }} needs a mapping, got 'os'",
        ),
        ({"${{ insert }}": [1]}, "${{ insert }} needs a mapping, got sequence"),
        ({"${{ fromJSON('[1]') }}": 1}, "gives a sequence, not a string"),
    ],
)
def test_what_github_refuses_is_an_expression_error(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("$", r"\$").replace("{", r"\{")):
        keys(mapping)


def test_is_insert_takes_the_directive_in_any_spacing_and_case() -> None:
    assert is_insert("${{ insert }}") and is_insert("${{insert}}") and is_insert("${{ INSERT }}")
    assert not is_insert("${{ inserted }}") and not is_insert("insert") and not is_insert(3)
