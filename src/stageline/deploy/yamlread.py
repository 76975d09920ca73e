"""Reading a YAML document field by field, with positions and collected errors.

`.stageline.yml` is checked the way workflows are: every problem becomes a
`Diagnostic` at the value's 1-based position, reading goes on after an error so
one pass reports them all, and a misspelt key gets a did-you-mean hint. A
reader method returns None (or the default) where the value is unusable, so the
caller builds what it can and the file is refused at the end if any error was
found.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from stageline.durations import parse_duration
from stageline.errors import ConfigError, Diagnostic, Position

T = TypeVar("T")

_TYPE_NAMES = {
    CommentedMap: "a mapping",
    CommentedSeq: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "nothing (null)",
}


def describe(value: object) -> str:
    """A YAML-ish name for a value's type, for 'expected X, got Y' messages."""
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """'did you mean X?' for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def load_document(text: str, path: str) -> tuple[Any, Diagnostic | None]:
    """Parse `text` (round-trip, so nodes carry positions); a syntax error becomes a
    Diagnostic instead of an exception."""
    try:
        return YAML(typ="rt").load(text), None
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = (err.problem or err.context or "invalid YAML").strip()
        return None, Diagnostic(where, f"invalid YAML: {problem}")
    except YAMLError as err:  # ReaderError: a character YAML forbids, at an index
        index = getattr(err, "position", 0)
        index = index if isinstance(index, int) else 0
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
        message = "invalid YAML: the file contains a character YAML does not allow"
        return None, Diagnostic(Position(path, line, col), message)
    except RecursionError:  # the round-trip composer recurses once per level
        return None, Diagnostic(Position(path), "invalid YAML: the document nests too deeply")


class Reader:
    """Collects diagnostics while typed values are pulled out of YAML nodes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diagnostics: list[Diagnostic] = []

    def error(self, where: Position, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(where, message, "error", hint))

    # -- positions ----------------------------------------------------------

    def node_pos(self, node: Any, fallback: Position) -> Position:
        lc = getattr(node, "lc", None)
        if lc is None:
            return fallback
        return Position(self.path, lc.line + 1, lc.col + 1)

    def key_pos(self, node: CommentedMap, key: str) -> Position:
        line, col = node.lc.key(key)
        return Position(self.path, line + 1, col + 1)

    def value_pos(self, node: CommentedMap, key: str) -> Position:
        """Where `key`'s value is written (its key when the value is empty)."""
        if node[key] is None:
            return self.key_pos(node, key)
        line, col = node.lc.value(key)
        return Position(self.path, line + 1, col + 1)

    def item_pos(self, node: CommentedSeq, index: int) -> Position:
        line, col = node.lc.item(index)
        return Position(self.path, line + 1, col + 1)

    def positions(self, node: CommentedMap) -> dict[str, Position]:
        """Each key's value position, the shape `workflow.model.Node.positions` holds."""
        return {str(key): self.value_pos(node, key) for key in node}

    # -- shapes -------------------------------------------------------------

    def mapping(self, value: Any, where: Position, what: str) -> CommentedMap | None:
        if isinstance(value, CommentedMap):
            return value
        self.error(where, f"{what} must be a mapping, got {describe(value)}")
        return None

    def mappings(
        self, value: Any, where: Position, what: str, keys: Iterable[str], required: Iterable[str]
    ) -> Iterator[tuple[str, Position, CommentedMap]]:
        """Each item of the list `value` that is a mapping, its keys checked, as (its name
        in messages, its position, it); a value that is not a list is reported."""
        if not isinstance(value, CommentedSeq):
            self.error(where, f"{what} must be a list, got {describe(value)}")
            return
        for index, item in enumerate(value):
            at = self.item_pos(value, index)
            name = f"{what}[{index}]"
            node = self.mapping(item, at, name)
            if node is not None:
                self.check_keys(node, keys, name, required=required, where=at)
                yield name, at, node

    def check_keys(
        self,
        node: CommentedMap,
        allowed: Iterable[str],
        what: str,
        required: Iterable[str] = (),
        where: Position | None = None,
    ) -> None:
        """Report unknown keys (with a did-you-mean) and missing required ones."""
        allowed = list(allowed)
        for key in node:
            if not isinstance(key, str) or key not in allowed:
                hint = suggest(str(key), allowed) or f"allowed keys: {', '.join(allowed)}"
                self.error(self.key_pos(node, key), f"unknown key {key!r} in {what}", hint)
        for key in required:
            if key not in node:
                self.error(
                    where or self.node_pos(node, Position(self.path)),
                    f"{what} is missing required key {key!r}",
                )

    def field(
        self,
        node: CommentedMap,
        key: str,
        convert: Callable[[Any, Position, str], T | None],
        what: str,
        default: T,
    ) -> T:
        """`convert` node[key] when present, else `default`."""
        if key not in node:
            return default
        value = convert(node[key], self.value_pos(node, key), f"{what}.{key}")
        return default if value is None else value

    # -- scalars ------------------------------------------------------------

    def string(self, value: Any, where: Position, what: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, str):
            self.error(where, f"{what} must not be empty")
        else:
            self.error(where, f"{what} must be a string, got {describe(value)}")
        return None

    def integer(self, value: Any, where: Position, what: str, minimum: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f"{what} must be an integer, got {describe(value)}")
            return None
        if value < minimum:
            self.error(where, f"{what} must be at least {minimum}, got {value}")
            return None
        return int(value)

    def boolean(self, value: Any, where: Position, what: str) -> bool | None:
        if isinstance(value, bool):
            return value
        hint = "write true or false" if str(value).lower() in {"yes", "no", "on", "off"} else None
        self.error(where, f"{what} must be true or false, got {describe(value)}", hint)
        return None

    def duration(self, value: Any, where: Position, what: str) -> timedelta | None:
        try:
            return parse_duration(value, where)
        except ConfigError as err:
            self.error(where, f"{what}: {err.message}", err.hint)
            return None

    def choice(
        self, value: Any, where: Position, what: str, choices: tuple[str, ...]
    ) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        hint = suggest(str(value), choices) or f"choose one of: {', '.join(choices)}"
        self.error(where, f"{what} must be one of {', '.join(choices)}, got {value!r}", hint)
        return None

    def strings(self, value: Any, where: Position, what: str) -> list[str] | None:
        """A list of non-empty strings; a single string is taken as a one-item list."""
        if isinstance(value, str):
            value = [value]
            items_at: Callable[[int], Position] = lambda _i: where  # noqa: E731
        elif isinstance(value, CommentedSeq):
            seq = value
            items_at = lambda i: self.item_pos(seq, i)  # noqa: E731
        else:
            self.error(where, f"{what} must be a list of strings, got {describe(value)}")
            return None
        result: list[str] = []
        for index, item in enumerate(value):
            text = self.string(item, items_at(index), f"{what}[{index}]")
            if text is not None:
                result.append(text)
        return result


__all__ = ["Reader", "describe", "load_document", "suggest"]
