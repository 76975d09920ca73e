"""Evaluation: contexts, property and index access, object filters, && and ||.

Object filter expectations are the `fruits` and `vegetables` examples of
GitHub's "Object filters" section; && / || follow the docs' ternary example.
"""

from __future__ import annotations

import pytest

from stageline.expressions import ExpressionError, evaluate

FRUITS = [
    {"name": "apple", "quantity": 1},
    {"name": "orange", "quantity": 2},
    {"name": "pear", "quantity": 1},
]
VEGETABLES = {
    "scallions": {"colors": ["green", "white", "red"], "ediblePortions": ["roots", "stalks"]},
    "beets": {
        "colors": ["purple", "red", "gold", "white", "pink"],
        "ediblePortions": ["roots", "stems", "leaves"],
    },
    "artichokes": {
        "colors": ["green", "purple", "red", "black"],
        "ediblePortions": ["hearts", "stems", "leaves"],
    },
}
CONTEXTS = {
    "fruits": FRUITS,
    "vegetables": VEGETABLES,
    "github": {
        "ref": "refs/heads/main",
        "event_name": "push",
        "event": {"issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}]}},
    },
    "matrix": {"python": 3, "os": "ubuntu", "nested": [[1, 2], [3]]},
}


def test_object_filter_on_an_array() -> None:
    assert evaluate("fruits.*.name", CONTEXTS) == ["apple", "orange", "pear"]


def test_object_filter_on_an_object() -> None:
    result = evaluate("vegetables.*.ediblePortions", CONTEXTS)
    # "Since objects don't preserve order, the order of the output cannot be guaranteed."
    assert sorted(result) == sorted(
        [["roots", "stalks"], ["hearts", "stems", "leaves"], ["roots", "stems", "leaves"]]
    )


def test_filters_chain_and_flatten() -> None:
    colors = evaluate("vegetables.*.colors.*", CONTEXTS)
    assert sorted(set(colors)) == ["black", "gold", "green", "pink", "purple", "red", "white"]
    assert len(colors) == 12
    # An index on a filter result applies to each element.
    assert evaluate("vegetables.*.colors[0]", CONTEXTS) == ["green", "purple", "green"]
    assert evaluate("matrix.nested[*][1]", CONTEXTS) == [2.0]


def test_filter_results_are_plain_lists() -> None:
    result = evaluate("fruits[*].quantity", CONTEXTS)
    assert type(result) is list
    assert result == [1, 2, 1]


def test_filter_of_a_scalar_is_empty() -> None:
    assert evaluate("github.ref.*", CONTEXTS) == []
    assert evaluate("github.missing.*.name", CONTEXTS) == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.ref", "refs/heads/main"),
        ("GITHUB.REF", "refs/heads/main"),  # contexts and keys match in any case
        ("github['event_name']", "push"),
        ("github['EVENT_NAME']", "push"),
        ("github.event.issue.labels[1].name", "help wanted"),
        ("github.event.issue.labels['1'].name", "help wanted"),  # index coerced to a number
        ("github.event.issue.labels[1.9].name", "help wanted"),  # floored
        ("fruits[0]['quantity']", 1.0),
        ("matrix.python", 3.0),  # ints in contexts come back as floats
        # Missing things are null, never errors.
        ("github.nope", None),
        ("github.nope.deeper", None),
        ("github.event.issue.labels[2]", None),
        ("github.event.issue.labels[-1]", None),
        ("github.event.issue.labels['x']", None),
        ("github.ref[0]", None),  # strings are not indexable
        ("fruits.name", None),  # a property of an array
        ("github[fromJSON('[]')]", None),
        ("matrix[null]", None),
        ('fromJSON(\'{"1": "one"}\')[1]', "one"),  # object keys from numbers
        ('fromJSON(\'{"true": "yes"}\')[true]', "yes"),
    ],
)
def test_property_and_index_access(expression: str, expected: object) -> None:
    result = evaluate(expression, CONTEXTS)
    assert result == expected
    assert type(result) is type(expected)


def test_exact_keys_win_over_case_insensitive_ones() -> None:
    contexts = {"env": {"Name": "upper", "name": "lower"}}
    assert evaluate("env.name", contexts) == "lower"
    assert evaluate("env.Name", contexts) == "upper"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("refs/heads/main", "value_for_main_branch"), ("refs/heads/dev", "value_for_other")],
)
def test_and_or_as_a_ternary(ref: str, expected: str) -> None:
    expression = "github.ref == 'refs/heads/main' && 'value_for_main_branch' || 'value_for_other'"
    assert evaluate(expression, {"github": {"ref": ref}}) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'a' && 'b'", "b"),  # all truthy: the last operand
        ("'' && 'b'", ""),  # the first falsy operand itself
        ("0 && 'b'", 0.0),
        ("null || 'b'", "b"),
        ("'a' || 'b'", "a"),
        ("'' || 0", 0.0),  # none truthy: the last operand
        ("null || ''", ""),
        ("!'a'", False),
        ("!''", True),
        ("!null", True),
    ],
)
def test_logical_operators_return_operands(expression: str, expected: object) -> None:
    result = evaluate(expression, {})
    assert result == expected
    assert type(result) is type(expected)


def test_logical_operators_short_circuit() -> None:
    # The right side would fail; it is never evaluated.
    assert evaluate("false && fromJSON('not json')", {}) is False
    assert evaluate("true || fromJSON('not json')", {}) is True
    with pytest.raises(ExpressionError, match="fromJSON"):
        evaluate("true && fromJSON('not json')", {})


def test_returned_containers_are_the_contexts_own() -> None:
    assert evaluate("github.event", CONTEXTS) is CONTEXTS["github"]["event"]  # type: ignore[index]


def test_unknown_named_values_are_errors_with_the_column() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("github.ref == secrets.x", {"github": {}})
    assert caught.value.message == "Unrecognized named-value: 'secrets' at column 15"
    assert caught.value.offset == 14


def test_only_the_given_contexts_are_named_values() -> None:
    with pytest.raises(ExpressionError, match="Unrecognized named-value: 'github'"):
        evaluate("github", {})
    assert evaluate("Env.x", {"env": {"X": "1"}}) == "1"


def test_contexts_may_be_any_mapping_and_sequences_any_sequence() -> None:
    from types import MappingProxyType

    contexts = {"steps": MappingProxyType({"build": {"outputs": ("a", "b")}})}
    assert evaluate("steps.build.outputs[1]", contexts) == "b"
    assert evaluate("steps.*.outputs[0]", contexts) == ["a"]
    assert evaluate("contains(steps.build.outputs, 'A')", contexts) is True
