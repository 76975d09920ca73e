"""GitHub's value model: kinds, truthiness, number and string conversion, loose comparison.

Values are plain Python data. Any Mapping is an object, any non-string Sequence
an array, ints and floats are numbers; anything else counts as an opaque object
(GitHub does the same with values it cannot traverse). The rules follow GitHub's
"Evaluate expressions" reference: loose equality coerces mismatched primitive
kinds to numbers, strings compare case-insensitively, arrays and objects are
equal only when they are the same instance, and NaN makes every comparison false.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

NULL: Final = 0
BOOLEAN: Final = 1
NUMBER: Final = 2
STRING: Final = 3
ARRAY: Final = 4
OBJECT: Final = 5


class FilteredArray(list[Any]):
    """The result of an object filter (``.*`` / ``[*]``).

    Indexing a filtered array applies the index to each of its elements instead
    of picking one element: ``labels.*.name`` collects every label's name.
    """


_KIND_BY_TYPE: Final[dict[type, int]] = {
    type(None): NULL,
    bool: BOOLEAN,
    int: NUMBER,
    float: NUMBER,
    str: STRING,
    list: ARRAY,
    tuple: ARRAY,
    FilteredArray: ARRAY,
    dict: OBJECT,
}

# .NET's Double.TryParse with AllowLeadingSign | AllowDecimalPoint | AllowExponent:
# ASCII digits only, no underscores, no "inf"/"nan" spellings (Python's float() is laxer).
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX: Final = re.compile(r"0x[0-9a-fA-F]+")
_OCTAL: Final = re.compile(r"0o[0-7]+")


def kind_of(value: Any) -> int:
    """The GitHub value kind of `value`."""
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return ARRAY
    return OBJECT


def is_primitive(value: Any) -> bool:
    """True for null, booleans, numbers and strings."""
    return kind_of(value) <= STRING


def is_truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, -0, NaN, '' and null are falsy; all else is truthy."""
    kind = kind_of(value)
    if kind == NULL:
        return False
    if kind == BOOLEAN:
        return bool(value)
    if kind == NUMBER:
        return bool(value != 0 and value == value)  # NaN is the only value unequal to itself
    if kind == STRING:
        return bool(value != "")
    return True


def as_float(value: int | float) -> float:
    """A Python number as a float; ints too large for a double become ±Infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def parse_number(text: str) -> float:
    """GitHub's string → number conversion (JavaScript's ``Number()`` in spirit).

    Surrounding whitespace is ignored, '' is 0, decimal and exponent forms parse,
    ``0x``/``0o`` prefixes give 32-bit integers (two's complement, like .NET's
    Int32 parsing), ``Infinity``/``-Infinity`` are infinite; anything else is NaN.
    """
    text = text.strip()
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        return float(text)
    base = 16 if _HEX.fullmatch(text) else 8 if _OCTAL.fullmatch(text) else 0
    if base:
        number = int(text[2:], base)
        if number > 0xFFFFFFFF:
            return math.nan
        return float(number - (1 << 32) if number > 0x7FFFFFFF else number)
    if text == "Infinity":
        return math.inf
    if text == "-Infinity":
        return -math.inf
    return math.nan


def to_number(value: Any) -> float:
    """GitHub's number conversion: null→0, true→1, false→0, strings parsed, else NaN."""
    kind = kind_of(value)
    if kind == NUMBER:
        return as_float(value)
    if kind == STRING:
        return parse_number(value)
    if kind == BOOLEAN:
        return 1.0 if value else 0.0
    if kind == NULL:
        return 0.0
    return math.nan


def number_to_string(number: float) -> str:
    """.NET's ``G15`` format, which GitHub uses: ``1``, ``0.5``, ``1E+15``, ``1E-05``."""
    if number != number:
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return format(number, ".15G")


def to_string(value: Any) -> str:
    """GitHub's string conversion: null→'', booleans→'true'/'false', numbers in
    ``G15`` form, arrays→'Array', objects→'Object' (as ``format`` and templates show them)."""
    kind = kind_of(value)
    if kind == STRING:
        return str(value)
    if kind == NUMBER:
        return number_to_string(as_float(value))
    if kind == BOOLEAN:
        return "true" if value else "false"
    if kind == NULL:
        return ""
    return "Array" if kind == ARRAY else "Object"


def fold(text: str) -> str:
    """Upper-case `text` one character at a time, like .NET's OrdinalIgnoreCase.

    Unlike ``str.upper`` this never changes the length ('ß' stays 'ß'), so
    'straße' and 'STRASSE' stay different, as they are on GitHub.
    """
    if text.isascii():
        return text.upper()
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in text)


def _ordinal_less(left: str, right: str) -> bool:
    """`left` < `right` by folded UTF-16 code units, as .NET's OrdinalIgnoreCase orders."""
    left, right = fold(left), fold(right)
    if left.isascii() and right.isascii():
        return left < right
    return left.encode("utf-16-be", "surrogatepass") < right.encode("utf-16-be", "surrogatepass")


def _coerce(left: Any, right: Any) -> tuple[Any, Any, int, int]:
    """Bring two values to one kind where GitHub does (numbers win over strings,
    booleans and null become numbers); arrays and objects are never coerced."""
    left_kind, right_kind = kind_of(left), kind_of(right)
    while left_kind != right_kind:
        if left_kind == NUMBER and right_kind == STRING:
            right, right_kind = parse_number(right), NUMBER
        elif left_kind == STRING and right_kind == NUMBER:
            left, left_kind = parse_number(left), NUMBER
        elif left_kind in (BOOLEAN, NULL):
            left, left_kind = to_number(left), NUMBER
        elif right_kind in (BOOLEAN, NULL):
            right, right_kind = to_number(right), NUMBER
        else:
            break
    return left, right, left_kind, right_kind


def loose_equal(left: Any, right: Any) -> bool:
    """GitHub's ``==``."""
    left, right, left_kind, right_kind = _coerce(left, right)
    if left_kind != right_kind:
        return False
    if left_kind == STRING:
        return bool(left == right or fold(left) == fold(right))
    if left_kind in (NUMBER, BOOLEAN):
        return bool(left == right)  # NaN == NaN is False, as GitHub wants
    if left_kind == NULL:
        return True
    return left is right


def loose_less(left: Any, right: Any) -> bool:
    """GitHub's ``<``: numbers numerically, strings ordinally ignoring case, false < true."""
    left, right, left_kind, right_kind = _coerce(left, right)
    if left_kind != right_kind:
        return False
    if left_kind == NUMBER:
        return bool(left < right)
    if left_kind == STRING:
        return _ordinal_less(left, right)
    if left_kind == BOOLEAN:
        return not left and bool(right)
    return False


def loose_greater(left: Any, right: Any) -> bool:
    """GitHub's ``>``."""
    return loose_less(right, left)


def loose_less_equal(left: Any, right: Any) -> bool:
    """GitHub's ``<=``: equal or less (so NaN <= NaN is False)."""
    return loose_equal(left, right) or loose_less(left, right)


def loose_greater_equal(left: Any, right: Any) -> bool:
    """GitHub's ``>=``."""
    return loose_equal(left, right) or loose_less(right, left)


def lookup(mapping: Mapping[Any, Any], key: str, default: Any = None) -> Any:
    """`mapping[key]`, matching keys case-insensitively; exact matches win."""
    try:
        return mapping[key]
    except (KeyError, TypeError):
        pass
    folded = fold(key)
    for candidate, value in mapping.items():
        if isinstance(candidate, str) and fold(candidate) == folded:
            return value
    return default


def plain(value: Any) -> Any:
    """The result form of a value: ints become floats, filtered arrays plain lists."""
    kind = kind_of(value)
    if kind == NUMBER and type(value) is not float:
        return as_float(value)
    if type(value) is FilteredArray:
        return list(value)
    return value
