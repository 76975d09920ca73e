"""Secret masking: every line is scrubbed before it reaches a log file, the sink or a summary.

Like GitHub's runner, a registered value is also masked in the encodings a script is
likely to print it in (JSON string escaping, URL encoding, base64, the `''` escaping of
expressions), and each line of a multi-line value is masked on its own, because output
arrives line by line.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"


def _variants(value: str) -> set[str]:
    found = {value, json.dumps(value)[1:-1], quote(value, safe=""), value.replace("'", "''")}
    found.add(base64.b64encode(value.encode()).decode().rstrip("="))
    for line in value.splitlines():
        found.add(line)
    return {v for v in found if v.strip()}


class Masker:
    """The set of values masked in a job's output; values can only be added."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._longest = 0
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Mask `value` (and its variants) in everything masked from now on."""
        new = _variants(value) - self._values
        if not new:
            return
        self._values |= new
        self._longest = max(self._longest, *map(len, new))
        ordered = sorted(self._values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __bool__(self) -> bool:
        """Whether any value is masked."""
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_head(self, text: str) -> tuple[str, str]:
        """Mask the part of `text` (a line that goes on) that no later text can change:
        returns it masked, and the tail in which a value may still begin (shorter than
        the longest value), to be put in front of the line's next piece. Matches are
        the ones `mask` finds in the whole line."""
        if self._pattern is None:
            return text, ""
        cut = max(len(text) - self._longest + 1, 0)
        parts: list[str] = []
        done = 0
        for match in self._pattern.finditer(text):
            if match.start() >= cut:
                break
            parts += (text[done : match.start()], MASK)
            done = match.end()
        cut = max(cut, done)
        parts.append(text[done:cut])
        return "".join(parts), text[cut:]

    def contains_secret(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None
