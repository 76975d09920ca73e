"""Typed reads of YAML nodes: each getter either returns a value of the shape GitHub
accepts or reports (with the node's position) why not and returns None, so one
pass over a file collects every fault."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from typing import Any

from stageline.errors import Position
from stageline.workflow.contexts import ExpressionChecks
from stageline.workflow.yamlsrc import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    STR,
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    Source,
    kind,
)

Scalar = str | int | float | bool | None


def did_you_mean(word: str, choices: Collection[str]) -> str | None:
    """The closest choice to a misspelt `word`, if one is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        return lowered.get(word.lower())
    return close[0]


def is_expression(value: object) -> bool:
    """Whether a value as written is a ``${{ }}`` template (evaluated later)."""
    return isinstance(value, str) and "${{" in value


class Fields:
    """Getters over one `Source`; every string they return has had its expressions
    checked against the key's context availability."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.exprs = ExpressionChecks(source)

    def pos(self, node: Node) -> Position:
        return self.source.pos(node)

    def error(self, where: Position | Node, message: str, hint: str | None = None) -> None:
        self.source.error(where, message, hint)

    def warn(self, where: Position | Node, message: str, hint: str | None = None) -> None:
        self.source.warn(where, message, hint)

    def wrong(self, node: Node, what: str, expected: str) -> None:
        self.error(node, f"`{what}` must be {expected}, got {kind(node)}")

    # --- structure ----------------------------------------------------------------

    def mapping(self, node: Node, what: str) -> MappingNode | None:
        if isinstance(node, MappingNode):
            return node
        self.wrong(node, what, "a mapping")
        return None

    def sequence(self, node: Node, what: str) -> SequenceNode | None:
        if isinstance(node, SequenceNode):
            return node
        self.wrong(node, what, "a list")
        return None

    def entries(
        self, node: MappingNode, allowed: Collection[str], where: str
    ) -> Iterator[tuple[str, ScalarNode, Node]]:
        """A mapping's entries whose keys are in `allowed`; others are reported with
        a did-you-mean."""
        for key, key_node, value in self.source.items(node):
            if key in allowed:
                yield key, key_node, value
                continue
            guess = did_you_mean(key, allowed)
            hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(allowed)}"
            self.error(key_node, f"unknown key '{key}' in {where}", hint)

    def known_keys(self, node: MappingNode, allowed: Collection[str], where: str) -> None:
        """Report the keys of `node` that are not in `allowed` (values read elsewhere)."""
        for _ in self.entries(node, allowed, where):
            pass

    def items(self, node: MappingNode) -> Iterator[tuple[str, ScalarNode, Node]]:
        return self.source.items(node)

    def plain(self, node: Node, expr_key: str | None) -> Any:
        """A free-form subtree as plain values, expressions checked under `expr_key`."""
        if expr_key is None:
            return self.source.plain(node)
        check = self.exprs.template
        return self.source.plain(node, lambda n, text: check(n, text, expr_key))

    # --- scalars ------------------------------------------------------------------

    def string(self, node: Node, what: str, expr_key: str | None = None) -> str | None:
        """A string; numbers and booleans are taken as written (``name: 1.10``)."""
        if not isinstance(node, ScalarNode) or node.tag == NULL:
            self.wrong(node, what, "a string")
            return None
        if node.tag not in (STR, INT, FLOAT, BOOL):
            self.source.scalar(node)  # reports the unsupported tag
        text: str = node.value
        if expr_key is not None:
            self.exprs.template(node, text, expr_key)
        return text

    def optional_string(self, node: Node, what: str, expr_key: str | None = None) -> str | None:
        """A string, or None for an empty value (``name:``), which GitHub reads as unset."""
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return None
        return self.string(node, what, expr_key)

    def condition(self, node: Node, what: str, expr_key: str) -> str | None:
        """An ``if:``: a string expression, or a literal boolean/number as written."""
        if isinstance(node, ScalarNode) and node.tag in (BOOL, INT, FLOAT):
            return str(node.value).lower()
        text = self.string(node, what)
        if text is not None:
            self.exprs.condition(node, text, expr_key)  # type: ignore[arg-type]
        return text

    def scalar(self, node: Node, what: str, expr_key: str | None) -> Scalar:
        """A scalar value (env values, `with:` inputs): string, number, boolean, null."""
        if not isinstance(node, ScalarNode):
            self.wrong(node, what, "a string, number or boolean")
            return None
        value = self.source.scalar(node)
        if expr_key is not None and isinstance(value, str):
            self.exprs.template(node, value, expr_key)
        return value  # type: ignore[no-any-return]

    def flag(self, node: Node, what: str, expr_key: str) -> bool | str | None:
        """A boolean or an expression that yields one."""
        if isinstance(node, ScalarNode):
            value = self.source.scalar(node)
            if isinstance(value, bool):
                return value
            if is_expression(value):
                self.exprs.template(node, value, expr_key)
                return str(value)
        self.wrong(node, what, "true, false or a ${{ }} expression")
        return None

    def number(
        self, node: Node, what: str, expr_key: str, *, integer: bool = False
    ) -> float | int | str | None:
        """A positive number (an integer if `integer`), or an expression."""
        expected = "a positive whole number" if integer else "a positive number"
        if isinstance(node, ScalarNode):
            value = self.source.scalar(node)
            if is_expression(value):
                self.exprs.template(node, value, expr_key)
                return str(value)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if numeric and value > 0 and value != float("inf"):
                if not integer:
                    return value  # type: ignore[no-any-return]
                if float(value).is_integer():
                    return int(value)
            if numeric:
                self.error(node, f"`{what}` must be {expected}, got {node.value}")
                return None
        self.wrong(node, what, f"{expected} or a ${{{{ }}}} expression")
        return None

    def strings(
        self,
        node: Node,
        what: str,
        positions: dict[str, Position],
        key: str,
        expr_key: str | None = None,
        *,
        non_empty: bool = False,
    ) -> list[str] | None:
        """A string or a list of strings; item positions go to ``positions[key[i]]``.
        With `non_empty`, an empty list or string is reported and left out, as GitHub
        rejects them there."""
        if isinstance(node, ScalarNode) and node.tag != NULL:
            text = self.string(node, what, expr_key)
            if text is None or (non_empty and self._blank(node, text, what)):
                return None
            positions[f"{key}[0]"] = self.pos(node)
            return [text]
        if not isinstance(node, SequenceNode):
            self.wrong(node, what, "a string or a list of strings")
            return None
        if non_empty and not node.value:
            self.error(node, f"`{what}` cannot be empty")
        found: list[str] = []
        for index, item in enumerate(node.value):
            text = self.string(item, f"{what}[{index}]", expr_key)
            if non_empty and text is not None and self._blank(item, text, f"{what}[{index}]"):
                continue
            if text is not None:
                positions[f"{key}[{index}]"] = self.pos(item)
                found.append(text)
        return found

    def _blank(self, node: Node, text: str, what: str) -> bool:
        if text.strip():
            return False
        self.error(node, f"`{what}` cannot be empty")
        return True

    def env(
        self,
        node: Node,
        key: str,
        what: str,
        expr_key: str,
        positions: dict[str, Position],
        *,
        allow_expression: bool = True,
    ) -> dict[str, Scalar] | str | None:
        """An ``env:`` (or `with:`) mapping of names to scalars, or, where GitHub allows
        it, one expression that yields the whole mapping. Value positions go to
        ``positions[key.NAME]``."""
        if allow_expression and isinstance(node, ScalarNode):
            value = self.source.scalar(node)
            if is_expression(value):
                self.exprs.template(node, value, expr_key)
                return str(value)
        if not isinstance(node, MappingNode):
            expected = "a mapping" + (" or a ${{ }} expression" if allow_expression else "")
            self.wrong(node, what, expected)
            return None
        found: dict[str, Scalar] = {}
        folded: dict[str, str] = {}
        for name, name_node, value_node in self.items(node):
            twin = folded.setdefault(name.lower(), name)
            if key == "env" and twin != name:
                self.error(
                    name_node,
                    f"environment variable '{name}' differs only in case from '{twin}' "
                    f"in the same `{what}`",
                    "GitHub treats env names without regard to case; keep one of them",
                )
            value = self.scalar(value_node, f"{what}.{name}", expr_key)
            positions[f"{key}.{name}"] = self.pos(value_node)
            found[name] = value
        return found
