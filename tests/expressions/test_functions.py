"""Built-in functions, with the examples of GitHub's "Functions" section."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from stageline.expressions import ExpressionError, evaluate, evaluate_condition

GITHUB = {
    "ref": "refs/heads/main",
    "event_name": "push",
    "event": {"issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}]}},
}
CONTEXTS = {
    "github": GITHUB,
    "job": {"status": "success"},
    "env": {"continue": "true", "time": "3"},
}


class TestContains:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("contains('Hello world', 'llo')", True),  # the docs' string example
            ("contains('Hello world', 'LLO')", True),  # "not case sensitive"
            ("contains('Hello world', 'xyz')", False),
            ("contains(github.event.issue.labels.*.name, 'bug')", True),  # object filter example
            ("contains(github.event.issue.labels.*.name, 'BUG')", True),
            ("contains(github.event.issue.labels.*.name, 'feature')", False),
            ('contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)', True),
            ("contains(fromJSON('[1, 2]'), '2')", True),  # items compare with loose equality
            ("contains(fromJSON('[]'), '')", False),
            ("contains(123, 2)", True),  # "Casts values to a string"
            ("contains(true, 'ru')", True),
            ("contains(null, '')", True),
            ("contains('Object', github)", False),  # an object is not a string
            ("contains(github, 'ref')", False),  # nor is it searched
        ],
    )
    def test_contains(self, expression: str, expected: bool) -> None:
        assert evaluate(expression, CONTEXTS) is expected

    def test_contains_with_event_names(self) -> None:
        expression = 'contains(fromJSON(\'["push", "pull_request"]\'), github.event_name)'
        for name, expected in [("push", True), ("pull_request", True), ("schedule", False)]:
            assert evaluate(expression, {"github": {"event_name": name}}) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("startsWith('Hello world', 'He')", True),  # the docs' example
        ("startsWith('Hello world', 'he')", True),
        ("startsWith('Hello world', 'world')", False),
        ("startsWith('Hello', '')", True),
        ("startsWith(12345, 12)", True),
        ("startsWith(github, '')", False),
        ("endsWith('Hello world', 'ld')", True),  # the docs' example
        ("endsWith('Hello world', 'LD')", True),
        ("endsWith('Hello world', 'He')", False),
        ("endsWith(github.ref, '/MAIN')", True),
        ("endsWith('x', fromJSON('[]'))", False),
    ],
)
def test_starts_and_ends_with(expression: str, expected: bool) -> None:
    assert evaluate(expression, CONTEXTS) is expected


class TestFormat:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
            (
                "format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
                "{Hello Mona the Octocat!}",
            ),
            ("format('{0}{0}{1}', 'a', 'b')", "aab"),
            ("format('{1}-{0}', 1, 2.5)", "2.5-1"),
            ("format('{0} {1} {2}', null, true, github)", " true Object"),
            ("format('{0}', github.event.issue.labels)", "Array"),
            ("format('no placeholders')", "no placeholders"),
            ("format('{{}}')", "{}"),
            ("format('}}{{')", "}{"),
            ("format('{00}', 'zero')", "zero"),
            ("format('{0}', 1e20)", "1E+20"),
        ],
    )
    def test_format(self, expression: str, expected: str) -> None:
        assert evaluate(expression, CONTEXTS) == expected

    @pytest.mark.parametrize(
        ("expression", "message"),
        [
            ("format('{1}', 'a')", "references more arguments than were supplied"),
            ("format('{0}')", "references more arguments than were supplied"),
            ("format('{', 'a')", "The format string is invalid"),
            ("format('}', 'a')", "The format string is invalid"),
            ("format('{x}', 'a')", "The format string is invalid"),
            ("format('{}', 'a')", "The format string is invalid"),
            ("format('{0', 'a')", "The format string is invalid"),
            ("format('{256}', 'a')", "The format string is invalid"),
            ("format('{0:x}', 'a')", "format specifiers 'x' are not supported"),
        ],
    )
    def test_format_errors_name_the_call(self, expression: str, message: str) -> None:
        with pytest.raises(ExpressionError, match=message) as caught:
            evaluate("true && " + expression, {})
        assert caught.value.message.endswith("at column 9")

    def test_arguments_are_evaluated_only_when_used(self) -> None:
        assert evaluate("format('{0}', 'a', fromJSON('bad'))", {}) == "a"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("join(github.event.issue.labels.*.name, ', ')", "bug, help wanted"),  # the docs
        ("join(github.event.issue.labels.*.name)", "bug,help wanted"),  # default ","
        ("join(fromJSON('[1, true, null, \"x\"]'), '-')", "1-true--x"),
        ("join(fromJSON('[[1], {}]'))", "Array,Object"),
        ("join('just a string', ', ')", "just a string"),
        ("join(5)", "5"),
        ("join(fromJSON('[]'), ',')", ""),
        ("join(github, ',')", ""),
        ('join(fromJSON(\'["a", "b"]\'), github)', "a,b"),  # non-primitive separator
    ],
)
def test_join(expression: str, expected: str) -> None:
    assert evaluate(expression, CONTEXTS) == expected


class TestToJson:
    def test_the_docs_example(self) -> None:
        # `toJSON(job)` might return `{ "status": "success" }`, pretty-printed.
        assert evaluate("toJSON(job)", CONTEXTS) == '{\n  "status": "success"\n}'

    def test_nested_values_are_indented_by_two_spaces(self) -> None:
        value = {"a": [1, 2.5, {}], "b": {"c": None, "d": True}, "e": [], "f": 'x"y'}
        assert evaluate("toJSON(v)", {"v": value}) == json.dumps(value, indent=2)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, "null"),
            (False, "false"),
            (3, "3"),
            (1e20, "1E+20"),
            ("tab\there", '"tab\\there"'),
            ("ünïcode", '"ünïcode"'),
            ("line\u2028separator", '"line\\u2028separator"'),
            ([], "[]"),
            ({}, "{}"),
        ],
    )
    def test_scalars(self, value: object, expected: str) -> None:
        assert evaluate("toJSON(v)", {"v": value}) == expected

    def test_round_trips_through_from_json(self) -> None:
        value = {"include": [{"project": "foo", "config": "Debug"}], "n": 1.5, "ok": False}
        assert evaluate("fromJSON(toJSON(v))", {"v": value}) == value

    def test_a_value_that_contains_itself_is_an_error(self) -> None:
        looped: list[object] = []
        looped.append(looped)
        with pytest.raises(ExpressionError, match="contains itself at column 1"):
            evaluate("toJSON(v)", {"v": looped})


class TestFromJson:
    def test_the_docs_matrix_example(self) -> None:
        matrix = (
            '{"include":[{"project":"foo","config":"Debug"},{"project":"bar","config":"Release"}]}'
        )
        assert evaluate(
            "fromJSON(needs.job1.outputs.matrix)",
            {"needs": {"job1": {"outputs": {"matrix": matrix}}}},
        ) == {
            "include": [
                {"project": "foo", "config": "Debug"},
                {"project": "bar", "config": "Release"},
            ]
        }

    def test_the_docs_data_type_example(self) -> None:
        # `continue: true` and `time: 3` arrive as strings; fromJSON makes them typed.
        assert evaluate("fromJSON(env.continue)", CONTEXTS) is True
        result = evaluate("fromJSON(env.time)", CONTEXTS)
        assert result == 3.0 and type(result) is float

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("null", None), ("1", 1.0), ("[1, [2]]", [1.0, [2.0]]), ('"s"', "s"), (" {} ", {})],
    )
    def test_values(self, text: str, expected: object) -> None:
        assert evaluate("fromJSON(t)", {"t": text}) == expected

    def test_numbers_compare_numerically_after_from_json(self) -> None:
        # The docs' note: use fromJSON() for numerical comparison of outputs.
        assert evaluate("fromJSON(t) > 9", {"t": "10"}) is True
        assert evaluate("t > '9'", {"t": "10"}) is False

    @pytest.mark.parametrize("text", ["", "nope", "{", "[1,]", "{'a': 1}", "1 2"])
    def test_invalid_json_is_a_positioned_error(self, text: str) -> None:
        with pytest.raises(ExpressionError, match="fromJSON: invalid JSON") as caught:
            evaluate("true && fromJSON(t)", {"t": text})
        assert caught.value.offset == 8

    def test_deeply_nested_json_is_an_error_not_a_crash(self) -> None:
        with pytest.raises(ExpressionError, match="fromJSON"):
            evaluate("fromJSON(t)", {"t": "[" * 100_000 + "]" * 100_000})


class TestHashFiles:
    def test_patterns_are_handed_to_the_callback(self) -> None:
        seen: list[list[str]] = []

        def hash_files(patterns: Sequence[str]) -> str:
            seen.append(list(patterns))
            return "abc123"

        result = evaluate(
            "hashFiles('**/package-lock.json', '**/Gemfile.lock')", {}, hash_files=hash_files
        )
        assert result == "abc123"
        assert seen == [["**/package-lock.json", "**/Gemfile.lock"]]

    def test_without_a_callback_it_is_an_error(self) -> None:
        with pytest.raises(
            ExpressionError, match="hashFiles\\(\\) is not available here at column 8"
        ):
            evaluate("'x' && hashFiles('*.lock')", {})

    def test_a_failing_callback_becomes_an_expression_error(self) -> None:
        def broken(patterns: Sequence[str]) -> str:
            raise OSError("disk on fire")

        with pytest.raises(ExpressionError, match="disk on fire at column 1") as caught:
            evaluate("hashFiles('x')", {}, hash_files=broken)
        assert isinstance(caught.value.__cause__, OSError)


class TestCase:
    SINGLE = "case(github.ref == 'refs/heads/main', 'production', 'development')"
    MULTIPLE = """case(
      github.ref == 'refs/heads/main', 'production',
      github.ref == 'refs/heads/staging', 'staging',
      startsWith(github.ref, 'refs/heads/feature/'), 'development',
      'unknown'
    )"""

    @pytest.mark.parametrize(
        ("ref", "expected"), [("refs/heads/main", "production"), ("refs/heads/x", "development")]
    )
    def test_the_docs_single_predicate_example(self, ref: str, expected: str) -> None:
        assert evaluate(self.SINGLE, {"github": {"ref": ref}}) == expected

    @pytest.mark.parametrize(
        ("ref", "expected"),
        [
            ("refs/heads/main", "production"),
            ("refs/heads/staging", "staging"),
            ("refs/heads/feature/login", "development"),
            ("refs/tags/v1", "unknown"),
        ],
    )
    def test_the_docs_multiple_predicates_example(self, ref: str, expected: str) -> None:
        assert evaluate(self.MULTIPLE, {"github": {"ref": ref}}) == expected

    def test_returns_values_of_any_kind_and_evaluates_only_what_it_picks(self) -> None:
        assert evaluate("case(true, fromJSON('[1]'), fromJSON('bad'))", {}) == [1.0]
        assert evaluate("case(false, fromJSON('bad'), 2)", {}) == 2.0

    def test_predicates_must_be_booleans(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate("case(false, 1, 'yes', 2, 3)", {})
        assert caught.value.message == (
            "case predicate must evaluate to a boolean value at column 16"
        )


class TestStatusFunctions:
    @pytest.mark.parametrize(
        ("status", "success", "failure", "cancelled"),
        [
            ("success", True, False, False),
            ("failure", False, True, False),
            ("cancelled", False, False, True),
        ],
    )
    def test_status(self, status: str, success: bool, failure: bool, cancelled: bool) -> None:
        assert evaluate("success()", {}, status=status) is success
        assert evaluate("failure()", {}, status=status) is failure
        assert evaluate("cancelled()", {}, status=status) is cancelled
        assert evaluate("always()", {}, status=status) is True
        assert evaluate("!cancelled()", {}, status=status) is not cancelled

    def test_failure_with_conditions(self) -> None:
        # The docs' "failure with conditions" example.
        condition = "${{ failure() && steps.demo.conclusion == 'failure' }}"
        steps = {"steps": {"demo": {"conclusion": "failure"}}}
        assert evaluate_condition(condition, steps, status="failure") is True
        assert evaluate_condition(condition, steps, status="success") is False


def test_function_names_are_case_insensitive() -> None:
    assert evaluate("STARTSWITH('abc', 'A') && ToJson(1) == '1' && FROMjson('2') == 2", {})
