"""GitHub's built-in functions and what each one does.

Functions receive their arguments as thunks, not values, because GitHub
evaluates some lazily: ``case`` evaluates only the branch it picks, ``format``
only the arguments its format string names. Names match case-insensitively
(``tojson`` is ``toJSON``); `FUNCTIONS` maps the folded name to its spec.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stageline.errors import ExpressionError
from stageline.expressions.coercion import (
    ARRAY,
    BOOLEAN,
    NULL,
    NUMBER,
    OBJECT,
    STRING,
    as_float,
    fold,
    is_primitive,
    kind_of,
    loose_equal,
    number_to_string,
    to_string,
)
from stageline.expressions.faults import fault
from stageline.expressions.nodes import Call

HashFiles = Callable[[Sequence[str]], str]
Status = str
STATUSES: Final = frozenset({"success", "failure", "cancelled"})


@dataclass(slots=True)
class Env:
    """What an evaluation sees: the contexts, the job status and the hashFiles helper."""

    contexts: Mapping[str, Any]
    status: Status = "success"
    hash_files: HashFiles | None = None
    _folded: dict[str, Any] | None = field(default=None, repr=False)

    def named(self, name: str) -> Any:
        """The context `name`, matched case-insensitively (presence was checked before)."""
        try:
            return self.contexts[name]
        except KeyError:
            pass
        if self._folded is None:
            self._folded = {fold(key): value for key, value in self.contexts.items()}
        return self._folded.get(fold(name))


Thunk = Callable[[Env], Any]
Impl = Callable[[Call, Sequence[Thunk], Env], Any]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function's canonical name, how many arguments it takes, and its body."""

    name: str
    min_args: int
    max_args: int
    impl: Impl
    status: bool = False


def _contains(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    search = args[0](env)
    if is_primitive(search):
        item = args[1](env)
        return is_primitive(item) and fold(to_string(item)) in fold(to_string(search))
    if kind_of(search) == ARRAY and len(search) > 0:
        item = args[1](env)
        return any(loose_equal(item, element) for element in search)
    return False


def _starts_with(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    text = args[0](env)
    if not is_primitive(text):
        return False
    prefix = args[1](env)
    return is_primitive(prefix) and fold(to_string(text)).startswith(fold(to_string(prefix)))


def _ends_with(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    text = args[0](env)
    if not is_primitive(text):
        return False
    suffix = args[1](env)
    return is_primitive(suffix) and fold(to_string(text)).endswith(fold(to_string(suffix)))


def _format(call: Call, args: Sequence[Thunk], env: Env) -> str:
    """``format('{0} {{literal}}', x)``; raises for malformed strings and missing arguments."""
    template = to_string(args[0](env))
    segments: list[str | tuple[int, str]] = []
    index, length = 0, len(template)
    while index < length:
        left = template.find("{", index)
        right = template.find("}", index)
        if left >= 0 and (right < 0 or right > left):
            if template.startswith("{", left + 1):
                segments.append(template[index : left + 1])
                index = left + 2
                continue
            placeholder = _read_placeholder(template, left) if right > left + 1 else None
            if placeholder is None:
                raise fault(f"The format string is invalid: {template!r}", call.offset)
            arg_index, specifiers, close = placeholder
            if arg_index > len(args) - 2:
                raise fault(
                    f"The format string references more arguments than were supplied: {template!r}",
                    call.offset,
                )
            segments.append(template[index:left])
            segments.append((arg_index, specifiers))
            index = close + 1
        elif right >= 0:
            if not template.startswith("}", right + 1):
                raise fault(f"The format string is invalid: {template!r}", call.offset)
            segments.append(template[index : right + 1])
            index = right + 2
        else:
            segments.append(template[index:])
            break
    values: dict[int, str] = {}
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            parts.append(segment)
            continue
        arg_index, specifiers = segment
        if arg_index not in values:
            values[arg_index] = to_string(args[arg_index + 1](env))
        if specifiers:
            raise fault(f"The format specifiers {specifiers!r} are not supported", call.offset)
        parts.append(values[arg_index])
    return "".join(parts)


def _read_placeholder(template: str, left: int) -> tuple[int, str, int] | None:
    """Parse ``{N}`` or ``{N:spec}`` at `left`: (N, spec, index of the closing brace)."""
    end = left + 1
    while end < len(template) and "0" <= template[end] <= "9":
        end += 1
    if end == left + 1 or int(template[left + 1 : end]) > 255:
        return None
    if template.startswith("}", end):
        return int(template[left + 1 : end]), "", end
    if not template.startswith(":", end):
        return None
    specifiers: list[str] = []
    index = end + 1
    while index < len(template):
        char = template[index]
        if char != "}":
            specifiers.append(char)
            index += 1
        elif template.startswith("}", index + 1):
            specifiers.append("}")
            index += 2
        else:
            return int(template[left + 1 : end]), "".join(specifiers), index
    return None


def _join(call: Call, args: Sequence[Thunk], env: Env) -> str:
    items = args[0](env)
    if kind_of(items) == ARRAY and len(items) > 0:
        separator = ","
        if len(items) > 1 and len(args) > 1:
            given = args[1](env)
            if is_primitive(given):
                separator = to_string(given)
        return separator.join(to_string(item) for item in items)
    return to_string(items) if is_primitive(items) else ""


def _to_json(call: Call, args: Sequence[Thunk], env: Env) -> str:
    value = args[0](env)
    parts: list[str] = []
    try:
        _write_json(value, 0, parts, set())
    except RecursionError:
        raise fault("toJSON: the value is nested too deeply", call.offset) from None
    except _Cycle:
        raise fault("toJSON: the value contains itself", call.offset) from None
    return "".join(parts)


class _Cycle(Exception):
    """A container met again inside itself while writing JSON."""


def _json_string(text: str) -> str:
    """A JSON string literal escaped like Newtonsoft's default (GitHub's serializer)."""
    quoted = json.dumps(text, ensure_ascii=False)
    for char in "\u0085\u2028\u2029":
        quoted = quoted.replace(char, f"\\u{ord(char):04x}")
    return quoted


def _is_nonempty_container(value: Any, kind: int) -> bool:
    if kind == ARRAY:
        return len(value) > 0
    return kind == OBJECT and isinstance(value, Mapping) and len(value) > 0


def _write_json(value: Any, level: int, parts: list[str], active: set[int]) -> None:
    """GitHub's pretty JSON: two-space indent, ``"key": value``, numbers in G15 form."""
    kind = kind_of(value)
    if kind == STRING:
        parts.append(_json_string(value))
    elif kind == NUMBER:
        parts.append(number_to_string(as_float(value)))
    elif kind == BOOLEAN:
        parts.append("true" if value else "false")
    elif kind == NULL:
        parts.append("null")
    elif _is_nonempty_container(value, kind):
        if id(value) in active:
            raise _Cycle
        active.add(id(value))
        inner = "\n" + "  " * (level + 1)
        is_array = kind == ARRAY
        parts.append("[" if is_array else "{")
        entries = enumerate(value) if is_array else enumerate(value.items())
        for position, entry in entries:
            parts.append(inner if position == 0 else "," + inner)
            if is_array:
                _write_json(entry, level + 1, parts, active)
            else:
                parts.append(_json_string(to_string(entry[0])) + ": ")
                _write_json(entry[1], level + 1, parts, active)
        parts.append("\n" + "  " * level + ("]" if is_array else "}"))
        active.discard(id(value))
    else:
        parts.append("[]" if kind == ARRAY else "{}")


def _from_json(call: Call, args: Sequence[Thunk], env: Env) -> Any:
    text = to_string(args[0](env))
    try:
        return json.loads(text, parse_int=float)
    except json.JSONDecodeError as exc:
        raise fault(
            f"fromJSON: invalid JSON: {exc.msg} (JSON line {exc.lineno}, column {exc.colno})",
            call.offset,
        ) from None
    except (RecursionError, ValueError):
        raise fault("fromJSON: the JSON cannot be read", call.offset) from None


def _hash_files(call: Call, args: Sequence[Thunk], env: Env) -> str:
    if env.hash_files is None:
        raise fault("hashFiles() is not available here", call.offset)
    patterns = [to_string(arg(env)) for arg in args]
    try:
        return env.hash_files(patterns)
    except ExpressionError:
        raise
    except Exception as exc:
        raise fault(f"hashFiles({', '.join(patterns)}) failed: {exc}", call.offset) from exc


def _case(call: Call, args: Sequence[Thunk], env: Env) -> Any:
    """``case(pred1, val1, ..., default)``: predicates must be booleans (GitHub insists)."""
    for position in range(0, len(args) - 1, 2):
        predicate = args[position](env)
        if kind_of(predicate) != BOOLEAN:
            raise fault(
                "case predicate must evaluate to a boolean value", call.args[position].offset
            )
        if predicate:
            return args[position + 1](env)
    return args[-1](env)


def _success(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    return env.status == "success"


def _failure(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    return env.status == "failure"


def _cancelled(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    return env.status == "cancelled"


def _always(call: Call, args: Sequence[Thunk], env: Env) -> bool:
    return True


_MAX = 255  # GitHub caps variadic functions at Byte.MaxValue arguments
_SPECS = (
    FunctionSpec("contains", 2, 2, _contains),
    FunctionSpec("startsWith", 2, 2, _starts_with),
    FunctionSpec("endsWith", 2, 2, _ends_with),
    FunctionSpec("format", 1, _MAX, _format),
    FunctionSpec("join", 1, 2, _join),
    FunctionSpec("toJSON", 1, 1, _to_json),
    FunctionSpec("fromJSON", 1, 1, _from_json),
    FunctionSpec("hashFiles", 1, _MAX, _hash_files),
    FunctionSpec("case", 3, _MAX, _case),
    FunctionSpec("success", 0, 0, _success, status=True),
    FunctionSpec("failure", 0, 0, _failure, status=True),
    FunctionSpec("cancelled", 0, 0, _cancelled, status=True),
    FunctionSpec("always", 0, 0, _always, status=True),
)

#: Folded name → spec.
FUNCTIONS: Final[dict[str, FunctionSpec]] = {fold(spec.name): spec for spec in _SPECS}
#: Canonical names of every built-in function.
FUNCTION_NAMES: Final = frozenset(spec.name for spec in _SPECS)
#: The status check functions; an ``if:`` that calls none gets an implicit ``success() &&``.
STATUS_FUNCTIONS: Final = frozenset(spec.name for spec in _SPECS if spec.status)
