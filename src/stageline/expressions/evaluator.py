"""Evaluate parsed expressions.

Each AST is compiled once into nested Python closures (cached per expression
text), so evaluating an ``if:`` for every step costs a few closure calls rather
than a tree walk with type dispatch. Property and index access never fail: a
missing key, an index out of range or indexing a non-collection gives null.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from typing import Any, Final

from stageline.errors import ExpressionError
from stageline.expressions.coercion import (
    ARRAY,
    OBJECT,
    FilteredArray,
    fold,
    is_primitive,
    is_truthy,
    kind_of,
    lookup,
    loose_equal,
    loose_greater,
    loose_greater_equal,
    loose_less,
    loose_less_equal,
    to_number,
    to_string,
)
from stageline.expressions.faults import fault
from stageline.expressions.functions import FUNCTIONS, Env, Thunk
from stageline.expressions.nodes import (
    And,
    Call,
    Compare,
    Expr,
    Index,
    Literal,
    NamedValue,
    Not,
    Or,
    Wildcard,
)
from stageline.expressions.parser import Parsed, parse_expression

_MISSING: Final = object()
_INT32_LIMIT: Final = 2.0**31
_COMPARISONS: Final = {
    "==": loose_equal,
    "!=": lambda left, right: not loose_equal(left, right),
    "<": loose_less,
    "<=": loose_less_equal,
    ">": loose_greater,
    ">=": loose_greater_equal,
}


@functools.lru_cache(maxsize=4096)
def compiled(expression: str) -> tuple[Parsed, Thunk]:
    """The parse of `expression` and its compiled form."""
    parsed = parse_expression(expression)
    return parsed, compile_node(parsed.root)


def unknown_named_value(parsed: Parsed, names: Collection[str]) -> NamedValue | None:
    """The first named value of `parsed` that is not one of `names` (compared in any case)."""
    folded: set[str] | None = None
    for named in parsed.named_values:
        if named.name in names:
            continue
        if folded is None:
            folded = {fold(name) for name in names}
        if fold(named.name) not in folded:
            return named
    return None


def unknown_named_value_error(named: NamedValue, names: Collection[str]) -> ExpressionError:
    """The error for a named value that is not a context here, listing those that are."""
    available = ", ".join(sorted(names)) or "none"
    return fault(
        f"Unrecognized named-value: {named.name!r}",
        named.offset,
        hint=f"contexts available here: {available}",
    )


def evaluate_parsed(expression: str, env: Env) -> Any:
    """Evaluate `expression` in `env` after checking its named values against the contexts."""
    parsed, thunk = compiled(expression)
    if parsed.named_values:
        names = env.contexts.keys()
        named = unknown_named_value(parsed, names)
        if named is not None:
            raise unknown_named_value_error(named, names)
    return thunk(env)


def compile_node(node: Expr) -> Thunk:
    """A closure computing `node`'s value in an `Env`."""
    if isinstance(node, Literal):
        value = node.value
        return lambda env: value
    if isinstance(node, NamedValue):
        name = node.name
        return lambda env: env.named(name)
    if isinstance(node, Index):
        target = compile_node(node.target)
        if isinstance(node.key, Wildcard):
            return lambda env: _filter(target(env))
        key = compile_node(node.key)
        return lambda env: _index(target(env), key(env))
    if isinstance(node, Not):
        operand = compile_node(node.operand)
        return lambda env: not is_truthy(operand(env))
    if isinstance(node, Compare):
        compare = _COMPARISONS[node.op]
        left, right = compile_node(node.left), compile_node(node.right)
        return lambda env: compare(left(env), right(env))
    if isinstance(node, And | Or):
        return _compile_logical(node)
    if isinstance(node, Call):
        impl = FUNCTIONS[fold(node.name)].impl
        args = tuple(compile_node(arg) for arg in node.args)
        return lambda env: impl(node, args, env)
    raise TypeError(f"cannot evaluate a free-standing {type(node).__name__} node")


def _compile_logical(node: And | Or) -> Thunk:
    """``&&`` and ``||`` return an operand, not a boolean, and stop as soon as they know."""
    operands = tuple(compile_node(operand) for operand in node.operands)
    stop_when = not isinstance(node, And)  # && stops at a falsy value, || at a truthy one

    def logical(env: Env) -> Any:
        value = None
        for operand in operands:
            value = operand(env)
            if is_truthy(value) is stop_when:
                return value
        return value

    return logical


def _array_position(key: Any) -> int | None:
    """An array index from any value: numbers are floored; negative, NaN or huge gives None."""
    number = to_number(key)
    if math.isnan(number) or number < 0 or number >= _INT32_LIMIT:
        return None
    return int(number)


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _index(target: Any, key: Any) -> Any:
    if type(target) is FilteredArray:
        return _index_each(target, key)
    kind = kind_of(target)
    if kind == OBJECT and _is_mapping(target):
        return lookup(target, to_string(key)) if is_primitive(key) else None
    if kind == ARRAY:
        position = _array_position(key)
        return target[position] if position is not None and position < len(target) else None
    return None


def _index_each(items: FilteredArray, key: Any) -> FilteredArray:
    """Indexing a filter result applies the index to every element that has it."""
    result = FilteredArray()
    name = to_string(key) if is_primitive(key) else None
    position: int | None = -1  # computed on the first array element
    for item in items:
        kind = kind_of(item)
        if kind == OBJECT and name is not None and _is_mapping(item):
            value = lookup(item, name, _MISSING)
            if value is not _MISSING:
                result.append(value)
        elif kind == ARRAY:
            if position == -1:
                position = _array_position(key)
            if position is not None and position < len(item):
                result.append(item[position])
    return result


def _filter(target: Any) -> FilteredArray:
    """``target.*``: an object's values or an array's items; a filter result is flattened."""
    if type(target) is FilteredArray:
        result = FilteredArray()
        for item in target:
            kind = kind_of(item)
            if kind == OBJECT and _is_mapping(item):
                result.extend(item.values())
            elif kind == ARRAY:
                result.extend(item)
        return result
    kind = kind_of(target)
    if kind == OBJECT and _is_mapping(target):
        return FilteredArray(target.values())
    if kind == ARRAY:
        return FilteredArray(target)
    return FilteredArray()
