"""Deployment branch policy: which refs may deploy to an environment.

GitHub matches deployment branch rules with Ruby's ``File.fnmatch`` and
"wildcard characters will not match /" (FNM_PATHNAME), which differs from the
workflow trigger filters of `stageline.workflow.filters` (there ``?`` repeats
the preceding character and ``!`` negates). So the policy has its own small
matcher, following Ruby's documented rules:

* ``*`` any run of characters except ``/``; ``?`` one character except ``/``;
  ``[set]`` / ``[^set]`` / ``[!set]`` one character (never ``/``);
* ``**/`` zero or more whole directories; ``**`` elsewhere acts as ``*``;
* a wildcard never matches a ``.`` that starts a path component (no FNM_DOTMATCH);
* ``\\`` escapes the next character; ``{a,b}`` is literal (no FNM_EXTGLOB).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_BRANCH_PREFIX = "refs/heads/"


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        at_component_start = i == 0 or pattern[i - 1] == "/"
        no_dot = "(?!\\.)" if at_component_start else ""
        char = pattern[i]
        if pattern.startswith("**/", i) and at_component_start:
            out.append("(?:(?!\\.)[^/]*/)*")
            i += 3
        elif char == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append(f"{no_dot}[^/]*")
        elif char == "?":
            out.append(f"{no_dot}[^/]")
            i += 1
        elif char == "[" and (end := _set_end(pattern, i)) > 0:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("^", "!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("]", "\\]")
            out.append(f"{no_dot}[^/{body}]" if negate else f"(?!/){no_dot}[{body}]")
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _set_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the set opened at `start`, or -1 (then ``[`` is literal)."""
    i = start + 1
    if i < len(pattern) and pattern[i] in "^!":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    close = pattern.find("]", i)
    return close


def fnmatch_pathname(pattern: str, name: str) -> bool:
    """Ruby's ``File.fnmatch(pattern, name, File::FNM_PATHNAME)``."""
    return _compile(pattern).fullmatch(name) is not None


def branch_refusal(branches: Sequence[str] | None, ref: str) -> str | None:
    """Why `ref` may not deploy under the policy `branches`, or None when it may.

    ``None`` means no policy (every ref may deploy). Rules match the branch name of a
    ``refs/heads/...`` ref; any other ref (a tag, a pull request merge ref) is refused
    when a policy exists, since the policy names branches only.
    """
    if branches is None:
        return None
    allowed = ", ".join(branches) or "none"
    if not ref.startswith(_BRANCH_PREFIX):
        return f"{ref} is not a branch; deployment branches allowed: {allowed}"
    name = ref.removeprefix(_BRANCH_PREFIX)
    if any(fnmatch_pathname(pattern, name) for pattern in branches):
        return None
    return f"branch {name!r} is not allowed to deploy; deployment branches allowed: {allowed}"


__all__ = ["branch_refusal", "fnmatch_pathname"]
