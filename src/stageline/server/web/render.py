"""The pages' Jinja2 environment: templates, filters, and Markdown for step summaries.

Autoescaping is on for every template; the only HTML that reaches a page unescaped is
what `ansi`, `charts` and `markdown` build, each of which escapes the text it is given.
Step summaries are Markdown written by workflow steps, so raw HTML in them is shown as
text (markdown-it's `html: False`) and only safe link schemes survive.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup

from stageline.durations import format_duration

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str) -> Markup:
    """Markdown → HTML with raw HTML escaped (a step summary is untrusted)."""
    return Markup(_MARKDOWN.render(text))


def when(value: datetime | None) -> str:
    """A time as the pages show it: UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def took(start: datetime | None, end: datetime | None = None) -> str:
    """How long from `start` to `end` (or to now, while going), e.g. `1m5s`."""
    if start is None:
        return ""
    span = (end or datetime.now(UTC)) - start
    return format_duration(max(span, timedelta(0)))


def state(status: str, conclusion: str | None = None) -> str:
    """One word for a run or job: its conclusion once completed, else its status."""
    return (conclusion or "neutral") if status == "completed" else status


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(markdown=markdown, when=when, took=took, dur=format_duration)
templates.env.globals.update(state=state)

__all__ = ["STATIC_DIR", "markdown", "state", "templates", "took", "when"]
