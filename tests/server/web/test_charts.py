"""The deployments-per-day chart."""

from __future__ import annotations

from datetime import UTC, date, datetime

from stageline.server.web.charts import Day, bars, per_day


def test_per_day_counts_good_and_failed_in_the_window() -> None:
    at = datetime(2026, 3, 5, 12, tzinfo=UTC)
    days = per_day(
        [(at, "success"), (at, "inactive"), (at, "failure"), (None, "success"),
         (datetime(2026, 1, 1, tzinfo=UTC), "success")],
        until=date(2026, 3, 6), days=3,
    )  # fmt: skip
    assert days == [
        Day(date(2026, 3, 4), 0, 0),
        Day(date(2026, 3, 5), 2, 1),
        Day(date(2026, 3, 6), 0, 0),
    ]


def test_bars_scale_to_the_busiest_day_and_escape_the_title() -> None:
    svg = bars([Day(date(2026, 3, 4), 1, 0), Day(date(2026, 3, 5), 2, 2)], "<prod>")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>&lt;prod&gt;</title>" in svg
    assert svg.count('class="good"') == 2 and svg.count('class="failed"') == 1
    assert 'y="0.0" width="138.0" height="30.0"' in svg  # the failed part of the busiest day
    assert "Mar 04" in svg and "Mar 05" in svg
