"""Parse tokens into the AST, with GitHub's precedence and syntax rules.

Precedence, tightest first: ``.`` ``[]`` and calls; ``!``; ``< <= > >=``;
``== !=``; ``&&``; ``||``. Binary operators group left to right. Property
access and indexing apply to named values, calls, groups and earlier accesses
but not to literals (``'abc'[0]`` is an error on GitHub too). Unknown functions
and wrong argument counts are syntax errors. The tree may be at most 50 levels
deep, counted as GitHub counts them; as a guard against runaway recursion,
parentheses count as a level here as well (GitHub does not count them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn

from stageline.expressions.coercion import fold
from stageline.expressions.faults import fault
from stageline.expressions.functions import FUNCTIONS
from stageline.expressions.lexer import Kind, Token, tokenize
from stageline.expressions.nodes import (
    And,
    Call,
    Compare,
    CompareOp,
    Expr,
    Index,
    Literal,
    NamedValue,
    Not,
    Or,
    Wildcard,
)

MAX_DEPTH: Final = 50
MAX_LENGTH: Final = 21000
_EQUALITY: Final = frozenset({"==", "!="})
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})
_NOT: Final = frozenset({"!"})
_LITERALS: Final = frozenset({Kind.NULL, Kind.BOOLEAN, Kind.NUMBER, Kind.STRING})


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed expression and what validation needs to know about it."""

    root: Expr
    named_values: tuple[NamedValue, ...]
    calls: tuple[Call, ...]
    uses_status: bool


@functools.lru_cache(maxsize=4096)
def parse_expression(expression: str) -> Parsed:
    """Parse a bare expression (no ``${{ }}``); raises `ExpressionError` for any fault."""
    if len(expression) > MAX_LENGTH:
        raise fault(f"Exceeded max expression length {MAX_LENGTH}", MAX_LENGTH)
    return _Parser(expression).parse()


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.position = 0
        self.nesting = 0
        self.named_values: list[NamedValue] = []
        self.calls: list[Call] = []

    def parse(self) -> Parsed:
        if not self.tokens:
            blank = len(self.expression) - len(self.expression.lstrip())
            raise fault("Expected an expression", blank)
        root = self.parse_or()
        if self.position < len(self.tokens):
            self.unexpected(self.tokens[self.position])
        uses_status = any(FUNCTIONS[fold(call.name)].status for call in self.calls)
        return Parsed(root, tuple(self.named_values), tuple(self.calls), uses_status)

    # -- token helpers -------------------------------------------------------------------------

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            self.unexpected(None)
        self.position += 1
        return token

    def peek_operator(self, operators: frozenset[str]) -> Token | None:
        token = self.peek()
        if token is not None and token.kind is Kind.OPERATOR and token.text in operators:
            return token
        return None

    def expect(self, kind: Kind) -> Token:
        token = self.take()
        if token.kind is not kind:
            self.unexpected(token)
        return token

    def unexpected(self, token: Token | None) -> NoReturn:
        if token is None:
            last = self.tokens[-1]
            raise fault("Unexpected end of expression", last.offset + len(last.text) - 1)
        raise fault(f"Unexpected symbol: {token.text!r}", token.offset)

    def enter(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise fault(f"Exceeded max expression depth {MAX_DEPTH}", token.offset)

    def leave(self) -> None:
        self.nesting -= 1

    @staticmethod
    def height(offset: int, *children: Expr) -> int:
        """The height of a node over `children`; too tall is an error at `offset`."""
        height = 1 + max(child.height for child in children)
        if height > MAX_DEPTH:
            raise fault(f"Exceeded max expression depth {MAX_DEPTH}", offset)
        return height

    # -- grammar -------------------------------------------------------------------------------

    def parse_or(self) -> Expr:
        return self.parse_chain("||", self.parse_and, Or)

    def parse_and(self) -> Expr:
        return self.parse_chain("&&", self.parse_equality, And)

    def parse_chain(
        self, operator: str, parse_operand: Callable[[], Expr], node_type: type[And] | type[Or]
    ) -> Expr:
        first = parse_operand()
        operands = [first]
        wanted = frozenset({operator})
        while self.peek_operator(wanted):
            self.position += 1
            operands.append(parse_operand())
        if len(operands) == 1:
            return first
        flat: list[Expr] = []
        for item in operands:  # GitHub flattens a && (b && c) into one node
            flat.extend(item.operands if isinstance(item, node_type) else (item,))
        return node_type(first.offset, tuple(flat), height=self.height(first.offset, *flat))

    def parse_equality(self) -> Expr:
        return self.parse_comparison(_EQUALITY, self.parse_ordering)

    def parse_ordering(self) -> Expr:
        return self.parse_comparison(_ORDERING, self.parse_unary)

    def parse_comparison(
        self, operators: frozenset[str], parse_operand: Callable[[], Expr]
    ) -> Expr:
        left = parse_operand()
        while token := self.peek_operator(operators):
            self.position += 1
            right = parse_operand()
            op: CompareOp = token.text  # type: ignore[assignment]
            height = self.height(left.offset, left, right)
            left = Compare(left.offset, op, left, right, height=height)
        return left

    def parse_unary(self) -> Expr:
        token = self.peek_operator(_NOT)
        if token is None:
            return self.parse_postfix()
        self.position += 1
        self.enter(token)
        operand = self.parse_unary()
        self.leave()
        return Not(token.offset, operand, height=self.height(token.offset, operand))

    def parse_postfix(self) -> Expr:
        token = self.take()
        if token.kind in _LITERALS:
            return Literal(token.offset, token.value)
        if token.kind is Kind.NAMED_VALUE:
            named = NamedValue(token.offset, token.text)
            self.named_values.append(named)
            node: Expr = named
        elif token.kind is Kind.FUNCTION:
            node = self.parse_call(token)
        elif token.kind is Kind.START_GROUP:
            self.enter(token)
            node = self.parse_or()
            self.expect(Kind.END_PAREN)
            self.leave()
        else:
            self.unexpected(token)
        while (following := self.peek()) is not None:
            if following.kind is Kind.DEREFERENCE:
                self.position += 1
                name = self.take()
                if name.kind is Kind.PROPERTY:
                    key: Expr = Literal(name.offset, name.text)
                elif name.kind is Kind.WILDCARD:
                    key = Wildcard(name.offset)
                else:
                    self.unexpected(name)
            elif following.kind is Kind.START_INDEX:
                self.position += 1
                self.enter(following)
                inner = self.peek()
                if inner is not None and inner.kind is Kind.WILDCARD:
                    self.position += 1
                    key = Wildcard(inner.offset)
                else:
                    key = self.parse_or()
                self.expect(Kind.END_INDEX)
                self.leave()
            else:
                break
            node = Index(node.offset, node, key, height=self.height(node.offset, node, key))
        return node

    def parse_call(self, token: Token) -> Call:
        spec = FUNCTIONS.get(fold(token.text))
        if spec is None:
            raise fault(f"Unrecognized function: {token.text!r}", token.offset)
        self.expect(Kind.START_CALL)
        self.enter(token)
        args: list[Expr] = []
        following = self.peek()
        if following is not None and following.kind is Kind.END_PAREN:
            self.position += 1
        else:
            while True:
                args.append(self.parse_or())
                separator = self.take()
                if separator.kind is Kind.END_PAREN:
                    break
                if separator.kind is not Kind.SEPARATOR:
                    self.unexpected(separator)
        self.leave()
        if len(args) < spec.min_args:
            raise fault(f"Too few parameters supplied: {token.text!r}", token.offset)
        if len(args) > spec.max_args:
            raise fault(f"Too many parameters supplied: {token.text!r}", token.offset)
        if spec.name == "case" and len(args) % 2 == 0:
            raise fault("case requires an odd number of arguments", token.offset)
        height = self.height(token.offset, *args) if args else 1
        call = Call(token.offset, spec.name, tuple(args), height=height)
        self.calls.append(call)
        return call


__all__ = ["MAX_DEPTH", "MAX_LENGTH", "Parsed", "parse_expression"]
