"""The one conversion table agrees with the models, and round-trips values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import JSON

from stageline.runs.states import Status
from stageline.store.columns import JSON_COLUMNS, TIME_COLUMNS, from_sqlite, moment, to_sqlite
from stageline.store.db import _metadata
from stageline.store.models import UTCDateTime


def test_the_table_names_exactly_the_models_time_and_json_columns() -> None:
    columns = [c for table in _metadata().tables.values() for c in table.columns]
    assert {c.name for c in columns if isinstance(c.type, UTCDateTime)} == TIME_COLUMNS
    assert {c.name for c in columns if isinstance(c.type, JSON)} == JSON_COLUMNS
    for column in columns:  # a name means one kind of value in every table
        if column.name in TIME_COLUMNS:
            assert isinstance(column.type, UTCDateTime), column
        if column.name in JSON_COLUMNS:
            assert isinstance(column.type, JSON), column


def test_values_round_trip_through_the_sqlite_form() -> None:
    at = datetime(2026, 12, 3, 8, 0, 1, 234567, tzinfo=UTC)
    stored = to_sqlite("started_at", at.timestamp())
    assert isinstance(stored, float)
    assert from_sqlite("started_at")(stored) == at  # type: ignore[misc]
    other_zone = at.astimezone(timezone(timedelta(hours=2)))
    assert to_sqlite("at", other_zone) == stored
    assert to_sqlite("at", at.replace(tzinfo=None)) == stored  # naive means UTC
    assert from_sqlite("plan")(to_sqlite("plan", {"a": [1]})) == {"a": [1]}  # type: ignore[misc]
    assert to_sqlite("status", Status.QUEUED) == "queued"
    assert (to_sqlite("finished_at", None), from_sqlite("status")) == (None, None)
    assert moment(stored) == at and moment(other_zone).tzinfo is UTC
