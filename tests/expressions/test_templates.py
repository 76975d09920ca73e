"""``${{ }}`` in strings and ``if:`` conditions, as GitHub's docs describe them."""

from __future__ import annotations

import pytest

from stageline.expressions import (
    ExpressionError,
    check_template,
    evaluate_condition,
    evaluate_template,
    iter_templates,
)

CONTEXTS = {"github": {"ref": "refs/heads/main", "event": {"number": 7}}, "env": {"NAME": "Mona"}}


class TestIterTemplates:
    def test_offsets_and_inner_text(self) -> None:
        text = "a ${{ github.ref }} b ${{env.NAME}}"
        assert list(iter_templates(text)) == [(2, " github.ref "), (22, "env.NAME")]

    def test_closing_braces_inside_strings_do_not_close(self) -> None:
        text = "${{ format('}}{0}', 'x') }} tail"
        assert list(iter_templates(text)) == [(0, " format('}}{0}', 'x') ")]

    def test_escaped_quotes_keep_the_string_open(self) -> None:
        assert list(iter_templates("${{ 'it''s }}' }}")) == [(0, " 'it''s }}' ")]

    def test_text_without_expressions(self) -> None:
        assert list(iter_templates("plain { } }} text")) == []

    def test_an_empty_expression_is_still_found(self) -> None:
        assert list(iter_templates("${{}}")) == [(0, "")]

    @pytest.mark.parametrize(
        ("text", "column"),
        [("echo ${{ github.ref", 6), ("${{ 'open }}", 1), ("${{ a }} ${{ b }", 10)],
    )
    def test_unclosed_expressions_are_errors(self, text: str, column: int) -> None:
        with pytest.raises(ExpressionError) as caught:
            list(iter_templates(text))
        assert caught.value.message.endswith(f"at column {column}")
        assert text[caught.value.offset : caught.value.offset + 3] == "${{"


class TestEvaluateTemplate:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # The docs' literal examples, as env values.
            ("${{ null }}", None),
            ("${{ false }}", False),
            ("${{ 711 }}", 711.0),
            ("${{ -9.2 }}", -9.2),
            ("${{ 0xff }}", 255.0),
            ("${{ -2.99e-2 }}", -0.0299),
            ("Mona the Octocat", "Mona the Octocat"),
            ("${{ 'It''s open source!' }}", "It's open source!"),
            # One wrapped expression keeps its type, whatever it is.
            ("${{ fromJSON('[1, \"a\"]') }}", [1.0, "a"]),
            ("${{ github.event }}", {"number": 7}),
        ],
    )
    def test_a_single_expression_is_its_value(self, text: str, expected: object) -> None:
        result = evaluate_template(text, CONTEXTS)
        assert result == expected
        assert type(result) is type(expected)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Hello ${{ env.NAME }}!", "Hello Mona!"),
            ("${{ 1 }}${{ true }}${{ null }}|", "1true|"),
            ("#${{ github.event.number }}", "#7"),
            ("event: ${{ github.event }} ${{ fromJSON('[]') }}", "event: Object Array"),
            (" ${{ false }}", " false"),  # any other text makes it a string
            ("${{ false }}\n", "false\n"),
            ("braces { } and {0} stay", "braces { } and {0} stay"),
            ("{0} ${{ 'x' }} {{", "{0} x {{"),
        ],
    )
    def test_other_text_makes_a_string(self, text: str, expected: str) -> None:
        assert evaluate_template(text, CONTEXTS) == expected

    def test_errors_name_the_column_in_the_whole_text(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate_template("run ${{ github.ref == @ }}", CONTEXTS)
        assert caught.value.message == "Unexpected symbol: '@' at column 23"
        assert caught.value.offset == 22

    def test_an_empty_expression_is_an_error(self) -> None:
        with pytest.raises(ExpressionError, match="Expected an expression"):
            evaluate_template("x ${{ }}", CONTEXTS)

    def test_hash_files_and_status_reach_the_expression(self) -> None:
        result = evaluate_template(
            "key-${{ hashFiles('*.lock') }}-${{ failure() }}",
            {},
            status="failure",
            hash_files=lambda patterns: "|".join(patterns),
        )
        assert result == "key-*.lock-true"


class TestEvaluateCondition:
    @pytest.mark.parametrize(
        "text",
        ["github.ref == 'refs/heads/main'", "${{ github.ref == 'refs/heads/main' }}"],
    )
    def test_the_wrapper_is_optional(self, text: str) -> None:
        assert evaluate_condition(text, CONTEXTS) is True
        assert evaluate_condition(text.replace("main", "dev"), CONTEXTS) is False

    @pytest.mark.parametrize(
        ("text", "status", "expected"),
        [
            # "A default status check of success() is applied unless you include one of these."
            ("true", "success", True),
            ("true", "failure", False),
            ("true", "cancelled", False),
            ("", "success", True),
            ("  ", "failure", False),
            ("always()", "failure", True),
            ("always()", "cancelled", True),
            ("${{ always() }}", "cancelled", True),
            ("failure()", "failure", True),
            ("failure()", "success", False),
            ("cancelled()", "cancelled", True),
            ("!cancelled()", "failure", True),  # the docs' alternative to always()
            ("!cancelled()", "cancelled", False),
            ("success() || true", "failure", True),
            ("github.ref == 'refs/heads/main' && always()", "failure", True),
        ],
    )
    def test_implicit_success(self, text: str, status: str, expected: bool) -> None:
        assert evaluate_condition(text, CONTEXTS, status=status) is expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # The docs: "if: true && ${{ false }} will evaluate to true".
            ("true && ${{ false }}", True),
            ("${{ false }} || false", True),
            ("${{ false }}", False),
            (" ${{ false }}", True),  # the text is ' false', a non-empty string
            ("${{ false }}\n", True),  # a YAML block scalar keeps the newline
            ("${{ '' }}${{ null }}", False),  # only an empty string is falsy
            ("${{ 'fa' }}${{ 'lse' }}", True),  # the string 'false' is truthy
        ],
    )
    def test_templates_in_conditions_are_strings(self, text: str, expected: bool) -> None:
        assert evaluate_condition(text, CONTEXTS) is expected

    def test_status_functions_inside_a_template_turn_off_the_implicit_success(self) -> None:
        assert evaluate_condition("x ${{ always() }}", {}, status="failure") is True
        assert evaluate_condition("x ${{ 'y' }}", {}, status="failure") is False

    def test_the_condition_is_not_evaluated_when_the_implicit_success_fails(self) -> None:
        assert evaluate_condition("fromJSON('bad')", {}, status="failure") is False
        with pytest.raises(ExpressionError, match="fromJSON"):
            evaluate_condition("fromJSON('bad')", {}, status="success")

    def test_syntax_errors_are_raised_whatever_the_status(self) -> None:
        with pytest.raises(ExpressionError, match="Unexpected end of expression at column 13"):
            evaluate_condition("github.ref ==", CONTEXTS, status="failure")

    def test_errors_name_the_column_in_the_whole_text(self) -> None:
        with pytest.raises(ExpressionError) as caught:
            evaluate_condition("${{ a == @ }}", {"a": 1})
        assert caught.value.message == "Unexpected symbol: '@' at column 10"
        with pytest.raises(ExpressionError) as caught:
            evaluate_condition("ok ${{ nope }}", {})
        assert caught.value.message == "Unrecognized named-value: 'nope' at column 8"

    def test_unknown_contexts_are_errors(self) -> None:
        with pytest.raises(ExpressionError, match="Unrecognized named-value: 'secrets'"):
            evaluate_condition("${{ secrets.token != '' }}", CONTEXTS)

    def test_truthiness_follows_github(self) -> None:
        assert evaluate_condition("github.event.number", CONTEXTS) is True
        assert evaluate_condition("github.nothing", CONTEXTS) is False
        assert evaluate_condition("'false'", CONTEXTS) is True


class TestCheckTemplate:
    def test_every_expression_is_checked_with_columns_in_the_text(self) -> None:
        check_template("echo ${{ github.ref }} ${{ env.NAME }}", ["github", "env"])
        with pytest.raises(ExpressionError) as caught:
            check_template("echo ${{ github.ref }} ${{ secrets.x }}", ["github"])
        assert caught.value.message == "Unrecognized named-value: 'secrets' at column 28"

    def test_functions_can_be_restricted(self) -> None:
        with pytest.raises(ExpressionError, match="'hashFiles' is not allowed here at column 7"):
            check_template("k-${{ hashFiles('x') }}", [], functions={"format"})

    def test_conditions_may_omit_the_wrapper_or_be_blank(self) -> None:
        check_template("github.ref == 'x' && success()", ["github"], condition=True)
        check_template("   ", [], condition=True)
        with pytest.raises(ExpressionError, match="Unexpected end of expression at column 13"):
            check_template("github.ref ==", ["github"], condition=True)
        with pytest.raises(ExpressionError, match="Unrecognized named-value: 'nope' at column 5"):
            check_template("${{ nope }}", ["github"], condition=True)

    def test_plain_text_is_not_an_expression_outside_conditions(self) -> None:
        check_template("github.ref == @", [])

    def test_unclosed_templates_are_reported(self) -> None:
        with pytest.raises(ExpressionError, match=r"not closed.* at column 3$"):
            check_template("a ${{ b", ["b"])
