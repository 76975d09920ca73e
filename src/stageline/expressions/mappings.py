"""``${{ }}`` in mapping keys, and the ``${{ insert }}`` directive, as GitHub's workflow
parser evaluates them.

A key written as an expression (``${{ needs.a.outputs.key }}: [1, 2]``) is evaluated
when the mapping's values are, and must give a scalar, which becomes the key. A key
that is exactly ``${{ insert }}`` is a directive: its value (one expression, or a
mapping as written) must give a mapping, whose pairs take the directive's place. A key
defined twice, written or inserted, is an error, as GitHub reports it ("'X' is already
defined"): an insert never silently replaces a written key.

The callers own the values (`evaluate` a template, `value` a written value, `inserted`
a value that an insert brought in, already data), so `env:`, `with:` and `matrix:`
share these rules while each keeps its own value types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from stageline.errors import ExpressionError
from stageline.expressions.coercion import to_string

_INSERT = re.compile(r"\$\{\{\s*insert\s*\}\}", re.IGNORECASE)


def is_insert(key: object) -> bool:
    """Whether a mapping key is the ``${{ insert }}`` directive."""
    return isinstance(key, str) and _INSERT.fullmatch(key.strip()) is not None


def evaluate_keys(
    mapping: Mapping[Any, Any],
    evaluate: Callable[[str], Any],
    value: Callable[[Any], Any],
    inserted: Callable[[Any], Any] = lambda v: v,
) -> dict[str, Any]:
    """`mapping` with its expression keys evaluated and its inserts merged in, in the
    order written; every written value passed through `value`, every inserted one
    through `inserted`. Raises `ExpressionError` for an insert that gives no mapping,
    a key that gives a container, or a key defined twice."""
    result: dict[str, Any] = {}

    def put(key: str, item: Any) -> None:
        if key in result:
            raise ExpressionError(f"'{key}' is already defined")
        result[key] = item

    for key, item in mapping.items():
        if is_insert(key):
            merged = evaluate(item) if isinstance(item, str) else item
            if not isinstance(merged, Mapping):
                raise ExpressionError(
                    f"${{{{ insert }}}} needs a mapping, got {_kind(merged)}",
                    hint="insert a mapping, e.g. ${{ insert }}: ${{ fromJSON(needs.a.outputs.m) }}",
                )
            written = not isinstance(item, str)
            for inner_key, inner in merged.items():
                put(str(inner_key), value(inner) if written else inserted(inner))
            continue
        name = key
        if isinstance(key, str) and "${{" in key:
            name = evaluate(key)
            if isinstance(name, Mapping | list):
                raise ExpressionError(f"the key {key!r} gives a {_kind(name)}, not a string")
            name = to_string(name)
        put(str(name), value(item))
    return result


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "sequence"
    return f"{to_string(value)!r}"
