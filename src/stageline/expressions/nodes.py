"""The expression AST: what `parse` returns and what the evaluator compiles.

The tree has GitHub's shape, so its height is the depth GitHub limits to 50:
property access ``a.b`` is an `Index` whose key is the literal ``'b'``, and
chains of ``&&`` (or ``||``) are one flat `And` (`Or`) node. Every node knows
the 0-based `offset` of the token it starts at, for positioned errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral

CompareOp = TypingLiteral["==", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True, slots=True)
class Expr:
    """Base of every node. `height` is 1 for a leaf, 1 + the tallest child otherwise."""

    offset: int
    height: int = field(default=1, kw_only=True, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """``null``, ``true``, a number (always a float) or a string."""

    value: bool | float | str | None


@dataclass(frozen=True, slots=True)
class NamedValue(Expr):
    """A context name such as ``github``, as written (matched case-insensitively)."""

    name: str


@dataclass(frozen=True, slots=True)
class Wildcard(Expr):
    """The ``*`` of an object filter; only ever the key of an `Index`."""


@dataclass(frozen=True, slots=True)
class Index(Expr):
    """``target[key]`` or ``target.key`` (the key is then a string `Literal`)."""

    target: Expr
    key: Expr


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """``!operand``."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """A comparison; GitHub's loose equality and ordering rules apply."""

    op: CompareOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class And(Expr):
    """``a && b && ...``: the first falsy operand, else the last one."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or(Expr):
    """``a || b || ...``: the first truthy operand, else the last one."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A function call; `name` is the canonical spelling (``toJSON``), whatever was written."""

    name: str
    args: tuple[Expr, ...]


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct children of `node`, left to right."""
    if isinstance(node, Index):
        return (node.target, node.key)
    if isinstance(node, Not):
        return (node.operand,)
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, And | Or):
        return node.operands
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Expr) -> list[Expr]:
    """Every node of the tree, parents before children."""
    found: list[Expr] = []
    pending = [node]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(reversed(children(current)))
    return found


__all__ = [
    "And",
    "Call",
    "Compare",
    "CompareOp",
    "Expr",
    "Index",
    "Literal",
    "NamedValue",
    "Not",
    "Or",
    "Wildcard",
    "children",
    "walk",
]
