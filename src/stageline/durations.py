"""Durations written the GitHub/Go way: ``30s``, ``5m``, ``1h30m``, ``500ms``, ``1.5h``.

The grammar is Go's `time.ParseDuration` without a sign: one or more
``<number><unit>`` pairs, units ``ns us µs ms s m h``. Bare numbers are refused
(``30`` could mean seconds or minutes) except ``0``. Configuration durations are
never negative, so a sign is refused too.
"""

from __future__ import annotations

import re
from datetime import timedelta

from stageline.errors import ConfigError, Position

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_HINT = "write a number with a unit, e.g. 500ms, 30s, 5m, 1h30m"


def parse_duration(text: str | int | float, position: Position | None = None) -> timedelta:
    """Parse `text`; raise ConfigError (at `position`) naming what is wrong.

    Ints and floats are accepted only when zero, so a YAML ``0`` reads as ``0s``.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ConfigError(f"expected a duration, got {text!r}", position, _HINT)
    if not isinstance(text, str):
        if text == 0:
            return timedelta(0)
        raise ConfigError(f"duration {text!r} has no unit", position, f"did you mean {text}s?")
    source = text.strip()
    if source == "0":
        return timedelta(0)
    if not source:
        raise ConfigError("empty duration", position, _HINT)
    seconds = 0.0
    at = 0
    for match in _PART.finditer(source):
        if match.start() != at:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    if at != len(source):
        if re.fullmatch(r"\d+(\.\d*)?", source):
            raise ConfigError(f"duration {text!r} has no unit", position, f"did you mean {text}s?")
        raise ConfigError(f"invalid duration {text!r}", position, _HINT)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | float) -> str:
    """The shortest Go-style spelling: ``1h30m``, ``45s``, ``1.5s``, ``250ms``, ``0s``.

    Sub-second parts below a millisecond are rounded to the millisecond; the result
    always parses back (`parse_duration`) to the same value at millisecond precision.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    millis = round(abs(seconds) * 1000)
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{sign}{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    text = ""
    if hours:
        text += f"{hours}h"
    if minutes:
        text += f"{minutes}m"
    if secs or ms:
        text += f"{secs}.{ms:03d}".rstrip("0").rstrip(".") + "s"
    return sign + text


__all__ = ["format_duration", "parse_duration"]
