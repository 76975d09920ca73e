"""GitHub Actions' ``${{ }}`` expression language: parse, check and evaluate.

Pure: no I/O (``hashFiles`` is delegated to a callback) and nothing outside the
standard library and `stageline.errors`. Values are plain Python data: None,
bool, float (every number), str, list and dict; containers taken from the
contexts are returned as they are. Every fault in lexing, parsing or
evaluating raises `ExpressionError`, whose message ends with ``at column N``
and whose `offset` is the 0-based position in the text that was given.
Parsed expressions are cached, so evaluating the same ``if:`` again is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from stageline.errors import ExpressionError
from stageline.expressions.coercion import fold, is_truthy, plain, to_string
from stageline.expressions.evaluator import (
    evaluate_parsed,
    unknown_named_value,
    unknown_named_value_error,
)
from stageline.expressions.faults import fault, shifted
from stageline.expressions.functions import FUNCTION_NAMES, STATUS_FUNCTIONS, STATUSES, Env
from stageline.expressions.nodes import Expr
from stageline.expressions.parser import MAX_DEPTH, parse_expression
from stageline.expressions.templates import OPEN, condition, iter_templates, render

HashFiles = Callable[[Sequence[str]], str]


def _env(contexts: Mapping[str, Any], status: str, hash_files: HashFiles | None) -> Env:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}")
    return Env(contexts, status, hash_files)


def evaluate(
    expression: str,
    contexts: Mapping[str, Any],
    *,
    status: str = "success",
    hash_files: HashFiles | None = None,
) -> Any:
    """The value of a bare expression (no ``${{ }}``).

    Only the keys of `contexts` are valid named values (matched in any case).
    `status` ("success", "failure" or "cancelled") answers ``success()``,
    ``failure()`` and ``cancelled()``; `hash_files` computes ``hashFiles(...)``,
    which raises `ExpressionError` when it is not given.
    """
    return plain(evaluate_parsed(expression, _env(contexts, status, hash_files)))


def evaluate_template(
    text: str,
    contexts: Mapping[str, Any],
    *,
    status: str = "success",
    hash_files: HashFiles | None = None,
) -> Any:
    """The value of a string that may embed ``${{ }}``.

    Exactly one ``${{ expr }}`` gives the value itself (not a string), as GitHub
    does for ``with:`` inputs and matrix values; other text with ``${{`` gives a
    string with each expression converted by `to_string`; text without ``${{``
    comes back unchanged. Error columns count from the start of `text`.
    """
    return render(text, _env(contexts, status, hash_files))


def evaluate_condition(
    text: str,
    contexts: Mapping[str, Any],
    *,
    status: str = "success",
    hash_files: HashFiles | None = None,
) -> bool:
    """Whether an ``if:`` holds, with GitHub's rules.

    ``${{ }}`` around the whole condition is optional; an empty condition is
    ``success()``; a condition that calls no status function means
    ``success() && (condition)``; the result is GitHub's truthiness. A string
    that embeds ``${{ }}`` among other text is a template, hence a non-empty
    string, hence true (``if: true && ${{ false }}`` runs; GitHub documents it).
    """
    return condition(text, _env(contexts, status, hash_files))


def parse(expression: str) -> Expr:
    """The AST of a bare expression; raises `ExpressionError` for syntax errors,
    unknown functions, wrong argument counts and nesting deeper than 50."""
    return parse_expression(expression).root


def check(
    expression: str,
    contexts: Collection[str],
    *,
    functions: Collection[str] | None = None,
) -> None:
    """Validate a bare expression without evaluating it.

    Raises `ExpressionError` for everything `parse` rejects, for named values
    not in `contexts`, and, when `functions` is given, for calls to functions
    not in it (e.g. status functions outside ``if:``). Names compare in any case.
    The fault nearest the start of the expression is reported.
    """
    parsed = parse_expression(expression)
    faults: list[ExpressionError] = []
    named = unknown_named_value(parsed, contexts)
    if named is not None:
        faults.append(unknown_named_value_error(named, contexts))
    if functions is not None:
        allowed = {fold(name) for name in functions}
        calls = [call for call in parsed.calls if fold(call.name) not in allowed]
        if calls:
            call = min(calls, key=lambda call: call.offset)
            names = ", ".join(sorted(functions)) or "none"
            faults.append(
                fault(
                    f"Function {call.name!r} is not allowed here",
                    call.offset,
                    hint=f"functions available here: {names}",
                )
            )
    if faults:
        raise min(faults, key=lambda error: error.offset)


def check_template(
    text: str,
    contexts: Collection[str],
    *,
    functions: Collection[str] | None = None,
    condition: bool = False,
) -> None:
    """`check` every ``${{ }}`` of a string, with error columns counted in `text`.

    With `condition` (an ``if:``), text without ``${{`` is itself the
    expression, and may be blank. For workflow validation of whole scalars.
    """
    if condition and OPEN not in text:
        if text.strip():
            check(text, contexts, functions=functions)
        return
    for start, inner in iter_templates(text):
        try:
            check(inner, contexts, functions=functions)
        except ExpressionError as error:
            raise shifted(error, start + len(OPEN)) from error


__all__ = [
    "FUNCTION_NAMES",
    "MAX_DEPTH",
    "STATUS_FUNCTIONS",
    "Expr",
    "ExpressionError",
    "HashFiles",
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
