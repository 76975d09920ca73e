"""The one table of column conversions: which columns hold times and which JSON.

The SQLite run path writes and reads plain SQL, so it converts values itself
(`to_sqlite`, `from_sqlite`); SQLAlchemy paths (the PostgreSQL store, the
delivery tables) convert through the models' column types (`UTCDateTime`, `JSON`),
which call `epoch`/`moment` below. A test pins the sets here to the models' types.

Times are timestamps on both backends: `timestamptz` on PostgreSQL, Unix seconds
(REAL) on SQLite, which has no timestamp type; either way an aware UTC datetime
comes back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

TIME_COLUMNS = frozenset(
    {
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "expires_at",
        "at",
        "commit_time",
        "requested_at",
        "decided_at",
        "revoked_at",
        "last_at",
    }
)
JSON_COLUMNS = frozenset(
    {
        "outputs",
        "matrix",
        "needs",
        "data",
        "plan",
        "approved_by",
        "contexts",
        "decided_by",
        "payload",
        "run_ids",
        "detail",
        "labels",
        "queues",
        "current",
    }
)


def epoch(value: float | datetime) -> float:
    """Unix seconds of a `time.time()` or a datetime (a naive one is taken as UTC)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def moment(value: float | datetime) -> datetime:
    """The aware UTC datetime of a `time.time()` or a datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def to_sqlite(column: str, value: Any) -> Any:
    """A Python value as the SQLite run path stores it in `column`."""
    if value is None:
        return None
    if column in TIME_COLUMNS:
        return epoch(value)
    if column in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def sqlite_time(value: float | None) -> datetime | None:
    """A time column as SQLite returns it (Unix seconds), as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def from_sqlite(column: str) -> Callable[[Any], Any] | None:
    """How to read `column` back from SQLite (None: as it comes)."""
    if column in TIME_COLUMNS:
        return sqlite_time
    if column in JSON_COLUMNS:
        return _json
    return None
