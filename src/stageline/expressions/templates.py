"""``${{ }}`` embedded in strings, and ``if:`` conditions, as GitHub treats them.

A string that is exactly one ``${{ expr }}`` stands for the expression's value;
any other string containing ``${{`` is a template whose expressions are
converted to strings and spliced in (GitHub compiles it to ``format(...)``).
An ``if:`` may omit ``${{ }}``; unless it calls a status function it means
``success() && (condition)``. A condition that is a template rather than one
wrapped expression is a string, so ``if: true && ${{ false }}`` is true: GitHub
documents this trap and Stageline keeps it. Errors inside a template name the
column within the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stageline.errors import ExpressionError
from stageline.expressions.coercion import is_truthy, plain, to_string
from stageline.expressions.evaluator import compiled, evaluate_parsed
from stageline.expressions.faults import fault, shifted
from stageline.expressions.functions import Env

OPEN = "${{"
_QUOTE_OR_BRACE = re.compile("['}]")


def iter_templates(text: str) -> Iterator[tuple[int, str]]:
    """Yield (offset of ``${{`` in `text`, the text between ``${{`` and ``}}``).

    A ``}}`` inside a quoted string does not close the expression (GitHub scans
    the same way). Raises `ExpressionError` for a ``${{`` that is never closed.
    """
    start = text.find(OPEN)
    while start >= 0:
        end = _closing_brace(text, start)
        yield start, text[start + len(OPEN) : end - 1]
        start = text.find(OPEN, end + 1)


def _closing_brace(text: str, start: int) -> int:
    """The index of the second ``}`` of the ``}}`` that closes the ``${{`` at `start`."""
    in_string = False
    for match in _QUOTE_OR_BRACE.finditer(text, start + len(OPEN)):
        index = match.start()
        if text[index] == "'":
            in_string = not in_string  # '' (an escaped quote) toggles twice
        elif not in_string and text[index - 1] == "}":
            return index
    raise fault("The expression is not closed: '${{' needs a matching '}}'", start)


def _is_single(text: str, templates: list[tuple[int, str]]) -> bool:
    """True when `text` is exactly one ``${{ ... }}`` and nothing else."""
    if len(templates) != 1:
        return False
    start, inner = templates[0]
    return start == 0 and len(OPEN) + len(inner) + 2 == len(text)


def _evaluate_inner(start: int, inner: str, env: Env) -> Any:
    try:
        return evaluate_parsed(inner, env)
    except ExpressionError as error:
        raise shifted(error, start + len(OPEN)) from error


def _interpolate(text: str, templates: list[tuple[int, str]], env: Env) -> str:
    parts: list[str] = []
    position = 0
    for start, inner in templates:
        parts.append(text[position:start])
        parts.append(to_string(_evaluate_inner(start, inner, env)))
        position = start + len(OPEN) + len(inner) + 2
    parts.append(text[position:])
    return "".join(parts)


def render(text: str, env: Env) -> Any:
    """The value of a string that may embed ``${{ }}`` (see `evaluate_template`)."""
    if OPEN not in text:
        return text
    templates = list(iter_templates(text))
    if _is_single(text, templates):
        return plain(_evaluate_inner(0, templates[0][1], env))
    return _interpolate(text, templates, env)


def _uses_status(start: int, inner: str) -> bool:
    try:
        return compiled(inner)[0].uses_status
    except ExpressionError as error:
        raise shifted(error, start) from error


def condition(text: str, env: Env) -> bool:
    """Whether an ``if:`` holds (see `evaluate_condition`)."""
    if OPEN in text:
        templates = list(iter_templates(text))
        if not _is_single(text, templates):
            uses_status = any(
                [_uses_status(start + len(OPEN), inner) for start, inner in templates]
            )
            if not uses_status and env.status != "success":
                return False
            return is_truthy(_interpolate(text, templates, env))
        expression, delta = templates[0][1], len(OPEN)
    elif not text.strip():
        return env.status == "success"
    else:
        expression, delta = text, 0
    if not _uses_status(delta, expression) and env.status != "success":
        return False
    if delta:
        return is_truthy(_evaluate_inner(0, expression, env))
    return is_truthy(evaluate_parsed(expression, env))
