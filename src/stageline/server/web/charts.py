"""The environments page's small chart: deployments per day, stacked good over failed.

Inline SVG built from numbers only (no text from the record reaches it but day labels
it formats itself), so it needs no script and no escaping beyond what it writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from markupsafe import Markup

from stageline.store.deploy_records import SUCCEEDED

WIDTH, HEIGHT, BAR_GAP = 280, 60, 2


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    good: int
    failed: int


def per_day(
    finished: Iterable[tuple[datetime | None, str]], *, until: date, days: int = 14
) -> list[Day]:
    """(finished_at, status) pairs counted per day over the `days` ending at `until`."""
    counts = {until - timedelta(days=n): [0, 0] for n in range(days)}
    for at, status in finished:
        if at is None or at.date() not in counts:
            continue
        counts[at.date()][0 if status in SUCCEEDED else 1] += 1
    return [Day(d, *counts[d]) for d in sorted(counts)]


def bars(days: list[Day], title: str) -> Markup:
    """An SVG bar chart of `days` (good green below, failed red above), with a text title."""
    top = max((d.good + d.failed for d in days), default=0) or 1
    width = WIDTH / max(len(days), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT + 12}" '
        f'width="{WIDTH}" height="{HEIGHT + 12}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{Markup.escape(title)}</title>",
    ]
    for i, day in enumerate(days):
        x = i * width
        good_h = HEIGHT * day.good / top
        failed_h = HEIGHT * day.failed / top
        tip = f"{day.day.isoformat()}: {day.good} ok, {day.failed} failed"
        parts.append(f"<g><title>{tip}</title>")
        if day.good:
            parts.append(
                f'<rect class="good" x="{x:.1f}" y="{HEIGHT - good_h:.1f}" '
                f'width="{width - BAR_GAP:.1f}" height="{good_h:.1f}"/>'
            )
        if day.failed:
            parts.append(
                f'<rect class="failed" x="{x:.1f}" y="{HEIGHT - good_h - failed_h:.1f}" '
                f'width="{width - BAR_GAP:.1f}" height="{failed_h:.1f}"/>'
            )
        parts.append("</g>")
    first, last = (days[0].day, days[-1].day) if days else (None, None)
    if first and last:
        parts.append(f'<text x="0" y="{HEIGHT + 11}">{first:%b %d}</text>')
        parts.append(f'<text x="{WIDTH}" y="{HEIGHT + 11}" text-anchor="end">{last:%b %d}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["Day", "bars", "per_day"]
