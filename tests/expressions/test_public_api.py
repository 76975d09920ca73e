"""The public surface of stageline.expressions, which other packages code against."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import stageline.expressions as expressions
from stageline import errors


def test_all_is_pinned() -> None:
    assert sorted(expressions.__all__) == [
        "Expr",
        "ExpressionError",
        "FUNCTION_NAMES",
        "HashFiles",
        "MAX_DEPTH",
        "STATUS_FUNCTIONS",
        "check",
        "check_template",
        "evaluate",
        "evaluate_condition",
        "evaluate_template",
        "is_truthy",
        "iter_templates",
        "parse",
        "to_string",
    ]


def test_expression_error_is_the_shared_class() -> None:
    assert expressions.ExpressionError is errors.ExpressionError
    assert issubclass(expressions.ExpressionError, errors.StagelineError)


@pytest.mark.parametrize(
    ("function", "keyword_only"),
    [
        (expressions.evaluate, ["status", "hash_files"]),
        (expressions.evaluate_template, ["status", "hash_files"]),
        (expressions.evaluate_condition, ["status", "hash_files"]),
        (expressions.check, ["functions"]),
        (expressions.check_template, ["functions", "condition"]),
    ],
)
def test_options_are_keyword_only(function: object, keyword_only: list[str]) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    assert [
        name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    ] == keyword_only


def test_function_names_are_githubs() -> None:
    assert set(expressions.FUNCTION_NAMES) == {
        "contains",
        "startsWith",
        "endsWith",
        "format",
        "join",
        "toJSON",
        "fromJSON",
        "hashFiles",
        "case",
        "success",
        "failure",
        "cancelled",
        "always",
    }
    assert set(expressions.STATUS_FUNCTIONS) == {"success", "failure", "cancelled", "always"}


def test_unknown_status_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="status"):
        expressions.evaluate("true", {}, status="skipped")


def test_parse_is_cached() -> None:
    text = "github.ref == 'refs/heads/cache-test'"
    assert expressions.parse(text) is expressions.parse(text)


def test_the_package_imports_only_the_standard_library_and_errors() -> None:
    code = (
        "import sys; before = set(sys.modules); import stageline.expressions;"
        "new = set(sys.modules) - before;"
        "print(*sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported = [name for name in run.stdout.split() if not name.startswith("stageline.expressions")]
    assert imported == ["stageline", "stageline.errors"]
