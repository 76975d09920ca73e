"""GitHub's loose equality, comparison, truthiness and string conversion.

Expected values come from the "Operators" and "Functions" sections of GitHub's
"Evaluate expressions in workflows and actions": the number coercion table,
the NaN rule, case-insensitive strings, identity for arrays and objects, the
string conversion table and the list of falsy values.
"""

from __future__ import annotations

import math

import pytest

from stageline.expressions import evaluate, evaluate_condition, is_truthy, to_string
from stageline.expressions.coercion import parse_number, to_number

EVENT = {"issue": {"labels": [{"name": "bug"}]}}
CONTEXTS = {"github": {"event": EVENT, "ref": "refs/heads/main"}, "obj": {}, "arr": []}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # "If the types do not match, GitHub coerces the type to a number."
        ("null == 0", True),  # Null → 0
        ("true == 1", True),  # true → 1
        ("false == 0", True),  # false → 0
        ("'42' == 42", True),  # String parsed from a JSON number
        ("'4.2e1' == 42", True),
        ("'' == 0", True),  # "empty string returns 0"
        ("'abc' == 0", False),  # otherwise NaN
        ("null == false", True),
        ("'1' == true", True),
        ("obj == 0", False),  # Object → NaN
        ("arr == 0", False),  # Array → NaN
        # Same kinds compare directly; strings ignore case.
        ("'ABC' == 'abc'", True),
        ("'abc' != 'ABC'", False),
        ("null == null", True),
        ("null == ''", True),
        ("1 == 1.0", True),
        # "Objects and arrays are only considered equal when they are the same instance."
        ("github.event == github.event", True),
        ("obj == obj", True),
        ("fromJSON('{}') == fromJSON('{}')", False),
        ("fromJSON('[]') == fromJSON('[]')", False),
        ("obj == arr", False),
        # NaN: "the result is always false" for relational operators, and NaN != NaN.
        ("NaN == NaN", False),
        ("NaN != NaN", True),
        ("NaN < 1", False),
        ("NaN > 1", False),
        ("NaN <= NaN", False),
        ("NaN >= 1", False),
        ("'abc' < 1", False),
        ("'abc' >= 1", False),
        # Ordering: numbers, strings (ordinal, ignoring case), booleans.
        ("1 < 2", True),
        ("2 <= 2", True),
        ("'2' > 10", False),
        ("'a' < 'B'", True),
        ("'B' > 'a'", True),
        ("'abc' <= 'ABC'", True),
        ("false < true", True),
        ("true > false", True),
        ("null < 1", True),
        ("obj < obj", False),
        ("obj <= obj", True),
    ],
)
def test_comparisons(expression: str, expected: bool) -> None:
    assert evaluate(expression, CONTEXTS) is expected


@pytest.mark.parametrize(
    "value",
    [False, 0, -0.0, 0.0, "", None, math.nan],
)
def test_falsy_values(value: object) -> None:
    # "falsy values (false, 0, -0, "", '', null) are coerced to false"
    assert is_truthy(value) is False


@pytest.mark.parametrize("value", [True, 1, -1, 0.5, "false", "0", " ", [], {}, [0], math.inf])
def test_truthy_values(value: object) -> None:
    assert is_truthy(value) is True


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        *[("false", False), ("0", False), ("-0", False), ("''", False), ("null", False)],
        *[("true", True), ("'false'", True), ("1", True), ("fromJSON('[]')", True)],
    ],
)
def test_conditionals_coerce_literals(condition: str, expected: bool) -> None:
    assert evaluate_condition(condition, {}) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The string conversion table.
        (None, ""),
        (True, "true"),
        (False, "false"),
        (1.0, "1"),
        (1, "1"),
        (-9.2, "-9.2"),
        (0.5, "0.5"),
        (123456789.0, "123456789"),
        # "Decimal format, exponential for large numbers" (.NET's G15).
        (1e15, "1E+15"),
        (123456789012345.0, "123456789012345"),
        (1.5e-5, "1.5E-05"),
        (0.0001, "0.0001"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        ("text", "text"),
        # Arrays and objects are not converted: GitHub shows their kind.
        ([1, 2], "Array"),
        ({"a": 1}, "Object"),
    ],
)
def test_to_string(value: object, expected: str) -> None:
    assert to_string(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0.0),
        ("  ", 0.0),
        (" 12 ", 12.0),
        ("-1.5e2", -150.0),
        ("0x10", 16.0),
        ("0o10", 8.0),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
    ],
)
def test_parse_number(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["abc", "1_000", "inf", "nan", "١٢", "0X10", "1e", "--1", "0x"])
def test_parse_number_rejects_what_json_does_not_allow(text: str) -> None:
    assert math.isnan(parse_number(text))


def test_to_number_of_containers_is_nan() -> None:
    assert math.isnan(to_number([]))
    assert math.isnan(to_number({}))
    assert to_number(None) == 0.0
    assert to_number(True) == 1.0


def test_case_folding_keeps_length_like_dotnet() -> None:
    # .NET's OrdinalIgnoreCase upper-cases one character at a time; 'ß' has no
    # single-character upper case, so 'straße' and 'STRASSE' differ.
    assert evaluate("'straße' == 'STRASSE'", {}) is False
    assert evaluate("'ÄÖÜ' == 'äöü'", {}) is True
    assert evaluate("'ä' < 'B'", {}) is False
