"""YAML text → positioned nodes, and nodes → plain Python values.

We parse with ruamel.yaml (through libyaml when ``ruamel.yaml.clib`` is installed,
about 10x faster than its pure-Python scanner, which dominates loading time) and
compose the parser's events into our own small nodes here, iteratively: that keeps
every key's and value's start mark, bounds nesting depth (libyaml's recursive
composer overflows the C stack on deep input) and resolves plain scalars with the
YAML 1.2 core schema, which is what GitHub's workflow parser uses: ``on`` and
``yes`` are strings, ``3.10`` is the number 3.1, ``1_000`` is a string.

Explicit tags other than YAML's own are rejected (``if: !cond`` is a tag, not a
negation).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from stageline.errors import Diagnostic, Position

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_T + t for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP = _T + "seq", _T + "map"
#: How deep a document may nest before we stop reading it.
MAX_DEPTH = 64
#: How many nodes the aliases of one document may stand for once expanded. Aliases
#: are shared, not copied, but consumers that copy (a plan, JSON, matrix legs) would
#: expand them: nested anchors ("billion laughs") grow 10x per level in 500 bytes.
MAX_ALIAS_NODES = 100_000

_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+\Z|0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z"
    r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"
)
_YAML_LOADERS: dict[bool, YAML] = {}

#: Called with every string scalar met by `Source.plain` (used for expression checks).
StringHook = Callable[["ScalarNode", str], None]


class Mark(Protocol):
    """Where a node starts or ends (the parser's own mark objects): 0-based `line`,
    `column` and character `index`."""

    line: int
    column: int
    index: int


class Node:
    """A composed YAML node. `tag` is resolved (``tag:yaml.org,2002:str`` ...)."""

    __slots__ = ("end_mark", "start_mark", "tag", "value")

    def __init__(self, tag: str, value: Any, start_mark: Mark, end_mark: Mark) -> None:
        self.tag = tag
        self.value = value
        self.start_mark = start_mark
        self.end_mark = end_mark


class ScalarNode(Node):
    """`value` is the text as written (after YAML unescaping); `style` is ``""`` for
    plain scalars, or one of ``'"|>``."""

    __slots__ = ("style",)
    value: str

    def __init__(self, tag: str, value: str, start: Mark, end: Mark, style: str) -> None:
        super().__init__(tag, value, start, end)
        self.style = style


class SequenceNode(Node):
    value: list[Node]


class MappingNode(Node):
    value: list[tuple[Node, Node]]


class YamlSyntaxError(Exception):
    """The text is not YAML; `diagnostic` says where."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _loader(pure: bool) -> YAML:
    yaml = _YAML_LOADERS.get(pure)
    if yaml is None:
        yaml = _YAML_LOADERS[pure] = YAML(typ="safe", pure=pure)
    return yaml


def resolve(value: str, plain: bool, tag: str | None) -> str:
    """The tag of a scalar: explicit, or by the YAML 1.2 core schema when plain."""
    if tag is not None and tag != "!":
        return tag
    if not plain or tag == "!":
        return STR
    if value in _NULLS:
        return NULL
    first = value[:1]
    if first.isalpha() and first not in "tTfFnN":
        return STR  # fast path for the common case: words
    if value in _BOOLS:
        return BOOL
    if _INT.match(value):
        return INT
    if _FLOAT.match(value):
        return FLOAT
    return STR


class Source:
    """One file's text with helpers to turn YAML marks into `Position`s."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self._line_starts: list[int] | None = None
        self._plain: dict[int, Any] = {}  # id(node) → value: aliases are built once
        self._building: set[int] = set()

    # --- parsing ------------------------------------------------------------------

    def compose(self, *, pure: bool = False) -> Node | None:
        """The document's root node (None for an empty file); `pure` forces the
        pure-Python parser. Raises `YamlSyntaxError` for what YAML rejects."""
        try:
            return self._compose(_loader(pure).parse(self.text))
        except MarkedYAMLError as err:
            raise YamlSyntaxError(self._marked(err)) from None
        except YAMLError as err:  # ReaderError: a character YAML forbids
            index = getattr(err, "position", 0)
            index = index if isinstance(index, int) else 0
            message = "invalid YAML: the file contains a character YAML does not allow"
            char = getattr(err, "character", None)
            if isinstance(char, str) and char:
                message += f" ({ord(char[0]):#06x})"
            elif isinstance(char, int):
                message += f" ({char:#06x})"
            raise YamlSyntaxError(Diagnostic(self.at_index(index), message)) from None

    def _compose(self, events: Iterator[Any]) -> Node | None:
        root: Node | None = None
        anchors: dict[str, Node] = {}
        stack: list[Node] = []  # the open sequences and mappings
        pending: list[Node | None] = []  # per open collection: a key awaiting its value
        documents = 0
        # Expanded size: every node counts once, an alias as much as its target's
        # subtree. A collection's size is known when it ends (an alias to an open
        # collection is a cycle, reported by `plain`, and counts 1).
        counted = 0  # expanded nodes so far
        by_aliases = 0  # of those, the ones aliases stand for
        opened: list[int] = []  # per open collection: `counted` at its start
        sizes: dict[int, int] = {}  # id(collection) → its expanded size
        for event in events:
            kind = type(event)
            node: Node
            if kind is ScalarEvent:
                node = ScalarNode(
                    resolve(event.value, event.implicit[0], event.tag),
                    event.value,
                    event.start_mark,
                    event.end_mark,
                    event.style or "",
                )
                counted += 1
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise YamlSyntaxError(
                        self._at(event, f"the document nests deeper than {MAX_DEPTH} levels")
                    )
                start = event.start_mark
                opened.append(counted)
                counted += 1
                if kind is MappingStartEvent:
                    node = MappingNode(MAP, [], start, start)
                else:
                    node = SequenceNode(SEQ, [], start, start)
            elif kind is AliasEvent:
                found = anchors.get(event.anchor)
                if found is None:
                    raise YamlSyntaxError(
                        self._at(event, f"invalid YAML: undefined alias '{event.anchor}'")
                    )
                node = found
                size = sizes.get(id(found), 1)
                counted += size
                by_aliases += size
                if by_aliases > MAX_ALIAS_NODES:
                    raise YamlSyntaxError(
                        self._at(
                            event,
                            f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                            f"(alias '{event.anchor}' stands for {size:,})",
                        )
                    )
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise YamlSyntaxError(
                        self._at(event, "a workflow file must hold a single YAML document")
                    )
                continue
            elif stack and (kind is MappingEndEvent or kind is SequenceEndEvent):
                closed = stack.pop()
                closed.end_mark = event.end_mark
                sizes[id(closed)] = counted - opened.pop()
                pending.pop()
                continue
            else:
                continue
            anchor = getattr(event, "anchor", None)
            if anchor is not None and kind is not AliasEvent:
                anchors[anchor] = node
            if not stack:
                root = node
            else:
                parent = stack[-1]
                if type(parent) is SequenceNode:
                    parent.value.append(node)
                elif pending[-1] is None:
                    pending[-1] = node
                else:
                    parent.value.append((pending[-1], node))
                    pending[-1] = None
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                stack.append(node)
                pending.append(None)
        return root

    def _at(self, event: Any, message: str) -> Diagnostic:
        mark = event.start_mark
        return Diagnostic(Position(self.path, mark.line + 1, mark.column + 1), message)

    def _marked(self, err: MarkedYAMLError) -> Diagnostic:
        mark = err.problem_mark or err.context_mark
        where = Position(self.path, mark.line + 1, mark.column + 1) if mark else None
        message = f"invalid YAML: {(err.problem or 'syntax error').strip()}"
        hint = None
        context = err.context_mark
        if err.context and context is not None and where is not None:
            line, col = context.line + 1, context.column + 1
            if (line, col) != (where.line, where.col):
                hint = f"{err.context.strip()} at line {line}, column {col}"
        if mark is not None and self.text[mark.index : mark.index + 1] == "\t":
            hint = "YAML indentation must use spaces, not tabs"
        return Diagnostic(where, message, hint=hint)

    # --- positions ----------------------------------------------------------------

    def pos(self, node: Node) -> Position:
        mark = node.start_mark
        return Position(self.path, mark.line + 1, mark.column + 1)

    def at_index(self, index: int) -> Position:
        """The position of the character at `index` in the text."""
        starts = self._starts()
        line = max(bisect.bisect_right(starts, index) - 1, 0)
        return Position(self.path, line + 1, index - starts[line] + 1)

    def _starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0, *(m.end() for m in _BREAKS.finditer(self.text))]
        return self._line_starts

    def locate(self, node: ScalarNode, offset: int, anchor: int | None = None) -> Position:
        """The position of character `offset` of a scalar's *value*.

        Exact for single-line plain and quoted scalars and for literal blocks;
        otherwise (escapes, folded lines) `anchor`, the value offset of the ``${{``
        the offset belongs to, is found in the raw text and the offset is counted
        from there.
        """
        value: str = node.value
        style = node.style or ""
        start = node.start_mark.index
        end = node.end_mark.index
        raw = self.text[start:end]
        if style == "|":
            return self._in_literal(node, value, offset)
        quote = 1 if style else 0
        one_line = style != ">" and "\n" not in raw and "\r" not in raw
        if one_line and (anchor is None or raw[quote : len(raw) - quote] == value):
            return self.at_index(start + quote + offset)
        if anchor is not None:
            nth = value.count("${{", 0, anchor)
            raw_at = -1
            for _ in range(nth + 1):
                raw_at = raw.find("${{", raw_at + 1)
                if raw_at < 0:
                    return self.pos(node)
            return self.at_index(start + raw_at + (offset - anchor))
        return self.pos(node)

    def _in_literal(self, node: ScalarNode, value: str, offset: int) -> Position:
        line = value.count("\n", 0, offset)
        col = offset - (value.rfind("\n", 0, offset) + 1)
        starts = self._starts()
        first = node.start_mark.line + 1  # content starts below the `|` header
        indent = 0
        for number in range(first, min(first + line + 1, len(starts))):
            text = self._line(number)
            if text.strip():
                indent = len(text) - len(text.lstrip(" "))
                break
        return Position(self.path, first + line + 1, indent + col + 1)

    def _line(self, number: int) -> str:
        starts = self._starts()
        end = starts[number + 1] if number + 1 < len(starts) else len(self.text)
        return self.text[starts[number] : end].rstrip("\r\n")

    # --- values -------------------------------------------------------------------

    def error(self, where: Position | Node, message: str, hint: str | None = None) -> None:
        position = where if isinstance(where, Position) else self.pos(where)
        self.diagnostics.append(Diagnostic(position, message, hint=hint))

    def warn(self, where: Position | Node, message: str, hint: str | None = None) -> None:
        position = where if isinstance(where, Position) else self.pos(where)
        self.diagnostics.append(Diagnostic(position, message, "warning", hint))

    def scalar(self, node: ScalarNode) -> Any:
        """A scalar's value under the YAML 1.2 core schema (GitHub's reading)."""
        tag: str = node.tag
        value: str = node.value
        if tag == STR:
            return value
        if tag == NULL:
            return None
        if tag == BOOL:
            return value.lower() == "true"
        if tag == INT:
            number = _int(value)
            return value if number is None else number
        if tag == FLOAT:
            return _float(value)
        if tag.startswith(_T):  # !!timestamp, !!binary, ...: GitHub keeps the text
            return value
        self.error(
            node,
            f"unsupported YAML tag '{tag}'",
            hint="a value that starts with '!' is a YAML tag; quote it "
            "(an `if:` negation is written `if: ${{ !cond }}`)",
        )
        return value

    def items(self, node: MappingNode) -> Iterator[tuple[str, ScalarNode, Node]]:
        """A mapping's entries with string keys, reporting duplicate, non-scalar and
        merge (``<<``) keys and skipping them."""
        seen: dict[str, ScalarNode] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a mapping key must be a plain string")
                continue
            if key_node.value == "<<" and not key_node.style:
                self.error(key_node, "YAML merge keys ('<<') are not supported by GitHub Actions")
                continue
            key = str(key_node.value)  # the text as written: `on` even under YAML 1.1
            first = seen.get(key)
            if first is not None:
                line = first.start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}'", f"first defined at line {line}")
                continue
            seen[key] = key_node
            yield key, key_node, value_node

    def plain(self, node: Node, on_string: StringHook | None = None, _depth: int = 0) -> Any:
        """A subtree as plain Python values (dict, list, scalars), reporting what GitHub
        would reject. `on_string` sees every string scalar (for expression checks)."""
        if isinstance(node, ScalarNode):
            scalar = self.scalar(node)
            if on_string is not None and isinstance(scalar, str):
                on_string(node, scalar)
            return scalar
        key = id(node)
        if key in self._plain:
            return self._plain[key]
        if key in self._building:
            self.error(node, "a YAML alias refers to a node that contains it")
            return None
        if _depth >= MAX_DEPTH:
            self.error(node, f"the document nests deeper than {MAX_DEPTH} levels")
            return None
        self._building.add(key)
        value: Any
        if isinstance(node, MappingNode):
            value = {k: self.plain(v, on_string, _depth + 1) for k, _, v in self.items(node)}
        else:
            value = [self.plain(item, on_string, _depth + 1) for item in node.value]
        self._building.discard(key)
        self._plain[key] = value
        return value


def _int(text: str) -> int | None:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    base = {"0x": 16, "0o": 8, "0b": 2}.get(digits[:2].lower(), 10)
    try:
        return sign * int(digits[2:] if base != 10 else digits, base)
    except ValueError:
        return None


def _float(text: str) -> float | str:
    lowered = text.replace("_", "").lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    try:
        return float(lowered)
    except ValueError:
        return text


def kind(node: Node) -> str:
    """How a node reads in an error message: 'a mapping', 'a list', 'a string' ..."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag
    if tag == NULL:
        return "null (an empty value)"
    if tag == BOOL:
        return "a boolean"
    if tag in (INT, FLOAT):
        return "a number"
    return "a string"
