"""Path patterns as GitHub's `@actions/glob` reads them (hashFiles, artifacts, cache).

One pattern per line; blank lines and ``#`` comments are ignored; a leading ``!`` excludes;
the last pattern that matches a path decides. ``*`` and ``?`` stay inside one path segment,
``**`` spans any number of segments, ``[...]`` is a character class, ``~`` is the home
directory, and hidden files match like any other. A pattern that matches a directory also
matches everything below it (implicit descendants). Relative patterns are relative to the
given root (the workspace).

Matches are returned in search order: search roots in the order their patterns appear,
each walked depth first with names sorted by code point.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Pattern:
    negate: bool
    path: str  # absolute, normalised
    regex: re.Pattern[str]
    search_root: str


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = segment.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = segment[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_patterns(text: str | Iterable[str], root: str) -> list[Pattern]:
    lines = text.splitlines() if isinstance(text, str) else list(text)
    patterns: list[Pattern] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = False
        while line.startswith("!"):
            negate, line = not negate, line[1:].strip()
        if line.startswith("~"):
            line = os.path.expanduser(line)
        path = os.path.normpath(os.path.join(root, line))
        segments = path.strip("/").split("/")
        parts = ["" if s == "**" else _segment_regex(s) for s in segments]
        regex = ""
        for seg, part in zip(segments, parts, strict=True):
            regex += "(?:/[^/]+)*" if seg == "**" else "/" + part
        literal: list[str] = []
        for seg in segments:
            if _GLOB_CHARS.search(seg):
                break
            literal.append(seg)
        search_root = "/" + "/".join(literal)
        patterns.append(Pattern(negate, path, re.compile(regex + r"(?:/.*)?\Z"), search_root))
    return patterns


def _walk(top: str) -> Iterator[str]:
    """`top` and everything below it, depth first, names sorted; symlinks not followed."""
    yield top
    if not os.path.isdir(top) or os.path.islink(top):
        return
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return
    for name in names:
        yield from _walk(os.path.join(top, name))


def _selected(path: str, patterns: list[Pattern]) -> bool:
    chosen = False
    for pattern in patterns:
        if pattern.regex.match(path):
            chosen = not pattern.negate
    return chosen


def search_roots(patterns: list[Pattern]) -> list[str]:
    roots: list[str] = []
    for pattern in patterns:
        if not pattern.negate and pattern.search_root not in roots:
            roots.append(pattern.search_root)
    # a root below another root is searched as part of it
    return [
        r for r in roots if not any(o != r and r.startswith(o.rstrip("/") + "/") for o in roots)
    ]


def match_files(text: str | Iterable[str], root: str) -> list[str]:
    """Absolute paths of the regular files (and symlinks to files) the patterns select."""
    patterns = parse_patterns(text, root)
    found: list[str] = []
    seen: set[str] = set()
    for search_root in search_roots(patterns):
        if not os.path.lexists(search_root):
            continue
        for path in _walk(search_root):
            if path in seen or not os.path.isfile(path):
                continue
            if _selected(path, patterns):
                seen.add(path)
                found.append(path)
    return found


def hash_files(patterns: Iterable[str], workspace: str) -> str:
    """GitHub's `hashFiles`: SHA-256 over the SHA-256 digests of the matched files, in
    search order; only files inside the workspace count; '' when nothing matches."""
    lines: list[str] = []
    for pattern in patterns:
        lines.extend(pattern.splitlines())
    total = hashlib.sha256()
    count = 0
    prefix = os.path.normpath(workspace) + os.sep
    for path in match_files(lines, workspace):
        if not path.startswith(prefix):
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                digest.update(chunk)
        total.update(digest.digest())
        count += 1
    return total.hexdigest() if count else ""
