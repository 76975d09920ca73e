"""A step log as the run page shows it: lines, foldable groups, annotation lines.

The runner logs workflow commands in GitHub's raw format (`##[group]title`,
`##[endgroup]`, `##[error]message`); a line still written as `::group::title` (by a
tool that bypassed the runner) folds the same way. As on GitHub, groups do not nest:
a group opened inside another closes the first. A group left open at the end of the
log (the step is still writing, or it never closed it) stays open on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import Markup

from stageline.server.web import ansi

_COMMAND = re.compile(r"^\s*(?:##\[(\w+)\]|::(\w+)(?: [^:]*)?::)(.*)$")
LEVELS = ("error", "warning", "notice", "debug")


@dataclass(frozen=True, slots=True)
class Line:
    """One line: its number in the step's log, its HTML, and an annotation level or None."""

    number: int
    html: Markup
    level: str | None = None


@dataclass(slots=True)
class Group:
    """Lines folded under a title (a `<details>` on the page)."""

    title: Markup
    number: int
    lines: list[Line] = field(default_factory=list)
    closed: bool = False


Block = Line | Group


def blocks(lines: Iterable[str], first: int = 1) -> list[Block]:
    """The log's lines (numbered from `first`) as top-level lines and groups."""
    out: list[Block] = []
    group: Group | None = None
    for number, raw in enumerate(lines, start=first):
        text = raw.rstrip("\r\n")
        match = _COMMAND.match(text) or _COMMAND.match(ansi.strip(text))
        name = (match.group(1) or match.group(2)) if match else None
        if name == "group" and match:
            group = Group(ansi.to_html(match.group(3)), number)
            out.append(group)
            continue
        if name == "endgroup":
            if group is not None:
                group.closed = True
            group = None
            continue
        if name in LEVELS and match:
            line = Line(number, ansi.to_html(match.group(3)), name)
        else:
            line = Line(number, ansi.to_html(text))
        (group.lines if group is not None else out).append(line)
    return out


__all__ = ["LEVELS", "Block", "Group", "Line", "blocks"]
