"""Durations: Go's `time.ParseDuration` examples, our refusals, and the round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stageline.durations import format_duration, parse_duration
from stageline.errors import ConfigError, Position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Examples from Go's time.ParseDuration documentation.
        ("300ms", timedelta(milliseconds=300)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("2h45m", timedelta(hours=2, minutes=45)),
        ("1h15m30.918273645s", timedelta(hours=1, minutes=15, seconds=30.918273645)),
        ("10us", timedelta(microseconds=10)),
        ("10µs", timedelta(microseconds=10)),
        # The spellings of issue 4.
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("24h", timedelta(days=1)),
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        (".5s", timedelta(milliseconds=500)),
        (0, timedelta(0)),
    ],
)
def test_parse(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("30", "has no unit", "did you mean 30s?"),
        (30, "has no unit", "did you mean 30s?"),
        ("5 minutes", "invalid duration", "e.g. 500ms"),
        ("1d", "invalid duration", "e.g. 500ms"),
        ("-5s", "invalid duration", None),
        ("", "empty duration", None),
        ("s", "invalid duration", None),
        (True, "expected a duration", None),
        ([1], "expected a duration", None),
    ],
)
def test_refused(text: object, message: str, hint: str | None) -> None:
    where = Position(".stageline.yml", 4, 17)
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, where)  # type: ignore[arg-type]
    assert message in caught.value.message
    assert caught.value.position == where
    if hint:
        assert caught.value.hint is not None and hint in caught.value.hint


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(hours=26, seconds=3), "26h3s"),
        (90.0, "1m30s"),
    ],
)
def test_format(value: timedelta | float, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=10**10))
def test_format_parses_back(millis: int) -> None:
    value = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(value)) == value
