"""Reading the record: run lists, one run in full, orphan detection.

Plain SQL on the store's `sqlite3` connection, like `store.runs`: `stageline run
--json` reads its run back without loading SQLAlchemy. Values come back as the
models' column types return them (aware UTC datetimes, decoded JSON); a test
compares these records with what SQLAlchemy reads through the models.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from stageline.errors import RunError
from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store.db import Store
from stageline.store.records import (
    AnnotationRecord,
    ArtifactRecord,
    EventRecord,
    JobRecord,
    RunDetail,
    RunRecord,
    StepRecord,
)
from stageline.store.runs import ACTIVE_IN, HOST, finish_orphan

#: A run whose heartbeat is older than this is taken for dead, wherever it ran.
STALE_AFTER_S = 60.0

R = TypeVar("R")

_TIMES = frozenset({"created_at", "started_at", "finished_at", "heartbeat_at", "expires_at", "at"})
_JSON = frozenset({"outputs", "matrix", "needs", "data", "plan"})


def _time(value: str | None) -> datetime | None:
    """SQLAlchemy's SQLite text for a `UTCDateTime`, as the aware datetime it reads."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _converter(column: str) -> Callable[[Any], Any] | None:
    if column in _TIMES:
        return _time
    if column in _JSON:
        return _json
    return None


def _select(
    cur: sqlite3.Cursor,
    record: Callable[..., R],
    columns: Iterable[str],
    sql: str,
    params: tuple[Any, ...],
) -> list[R]:
    """`SELECT columns` + `sql`, each row as `record(**row)` with the columns' types."""
    names = list(columns)
    convert = [(i, f) for i, c in enumerate(names) if (f := _converter(c)) is not None]
    out = []
    for row in cur.execute(f"SELECT {', '.join(names)} {sql}", params).fetchall():
        values = list(row)
        for i, f in convert:
            values[i] = f(values[i])
        out.append(record(**dict(zip(names, values, strict=True))))
    return out


def list_runs(store: Store, *, repo_path: str | None = None, limit: int = 50) -> list[RunRecord]:
    """The newest runs first (of one repository when `repo_path` is given)."""
    where = ""
    params: tuple[Any, ...] = (limit,)
    if repo_path is not None:
        where, params = "WHERE repo_path = ? ", (repo_path, limit)
    with store.write() as cur:
        sql = f"FROM runs {where}ORDER BY id DESC LIMIT ?"
        return _select(cur, RunRecord, RunRecord.__slots__, sql, params)


_JOB_COLUMNS = [f for f in JobRecord.__slots__ if f != "steps"]


def _columns(**values: Any) -> dict[str, Any]:
    return values


def _step(job_key: str, **values: Any) -> tuple[str, StepRecord]:
    return job_key, StepRecord(**values)


def get_run(store: Store, run_id: int) -> RunDetail:
    """A run with its jobs (in plan order), their steps, annotations and artifacts."""
    key = (run_id,)
    with store.write() as cur:
        found = _select(cur, RunRecord, RunRecord.__slots__, "FROM runs WHERE id = ?", key)
        if not found:
            raise RunError(
                f"no run {run_id} in the record at {store.path}", hint="see `stageline runs`"
            )
        steps: dict[str, list[StepRecord]] = {}
        columns = ["job_key", *StepRecord.__slots__]
        sql = "FROM steps WHERE run_id = ? ORDER BY number"
        for job_key, step in _select(cur, _step, columns, sql, key):
            steps.setdefault(job_key, []).append(step)
        sql = "FROM jobs WHERE run_id = ? ORDER BY position, id"
        jobs = [
            JobRecord(**values, steps=steps.get(values["key"], []))
            for values in _select(cur, _columns, _JOB_COLUMNS, sql, key)
        ]
        sql = "FROM annotations WHERE run_id = ? ORDER BY id"
        annotations = _select(cur, AnnotationRecord, AnnotationRecord.__slots__, sql, key)
        sql = "FROM artifacts WHERE run_id = ? ORDER BY id"
        artifacts = _select(cur, ArtifactRecord, ArtifactRecord.__slots__, sql, key)
    return RunDetail(found[0], jobs, annotations, artifacts)


def run_events(store: Store, run_id: int, *, after: int = 0) -> list[EventRecord]:
    """The run's audit trail, oldest first (`after` an event id, to follow it)."""
    sql = "FROM events WHERE run_id = ? AND id > ? ORDER BY id"
    with store.write() as cur:
        return _select(cur, EventRecord, EventRecord.__slots__, sql, (run_id, after))


def run_state(store: Store, run_id: int) -> tuple[str, str | None]:
    """`(status, conclusion)` of a run, cheaply (for `logs --follow`)."""
    with store.write() as cur:
        row = cur.execute("SELECT status, conclusion FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunError(f"no run {run_id} in the record at {store.path}")
    return row[0], row[1]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphan_reason(run: RunRecord, now: float | None = None) -> str | None:
    """Why an active run is an orphan (its process is gone), or None if it is alive.

    A run that waits at a gate is not an orphan: it is meant to outlive its
    process until it is resumed.
    """
    if run.status not in ACTIVE_STATUSES or run.status == Status.WAITING:
        return None
    now = time.time() if now is None else now
    if run.host == HOST and run.pid is not None and not pid_alive(run.pid):
        return f"the stageline process (pid {run.pid} on {run.host}) ended before the run finished"
    beat = run.heartbeat_at or run.created_at
    age = now - beat.timestamp()
    if age > STALE_AFTER_S:
        stamp = beat.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"no heartbeat from the stageline process (pid {run.pid} on {run.host}) since {stamp}"
        )
    return None


def reap_orphans(store: Store, *, now: float | None = None) -> list[int]:
    """Complete every active run whose process is gone; returns their ids.

    A run that had started is marked failed, one that never started cancelled;
    the reason says what happened. Called whenever runs are listed or shown.
    """
    with store.write() as cur:
        sql = f"FROM runs WHERE status IN {ACTIVE_IN}"
        active = _select(cur, RunRecord, RunRecord.__slots__, sql, ())
    reaped = []
    for run in active:
        reason = orphan_reason(run, now)
        if reason is None:
            continue
        conclusion = Conclusion.FAILURE if run.started_at else Conclusion.CANCELLED
        finish_orphan(store, run.id, reason, conclusion)
        reaped.append(run.id)
    return reaped
