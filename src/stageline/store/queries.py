"""Reading the record: run lists, one run in full, orphan detection."""

from __future__ import annotations

import os
import time
from datetime import UTC
from typing import Any, cast

from sqlalchemy import Row, Table, and_, select

from stageline.errors import RunError
from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store.db import Store
from stageline.store.models import Annotation, Artifact, EventRow, Job, Run, Step
from stageline.store.records import (
    AnnotationRecord,
    ArtifactRecord,
    EventRecord,
    JobRecord,
    RunDetail,
    RunRecord,
    StepRecord,
)
from stageline.store.runs import HOST, finish_orphan

_runs = cast(Table, Run.__table__)
_jobs = cast(Table, Job.__table__)
_steps = cast(Table, Step.__table__)

#: A run whose heartbeat is older than this is taken for dead, wherever it ran.
STALE_AFTER_S = 60.0


def _run_record(row: Row[Any]) -> RunRecord:
    return RunRecord(**{f: getattr(row, f) for f in RunRecord.__slots__})


def list_runs(store: Store, *, repo_path: str | None = None, limit: int = 50) -> list[RunRecord]:
    """The newest runs first (of one repository when `repo_path` is given)."""
    stmt = select(*[_runs.c[f] for f in RunRecord.__slots__]).order_by(_runs.c.id.desc())
    if repo_path is not None:
        stmt = stmt.where(_runs.c.repo_path == repo_path)
    with store.transaction() as conn:
        return [_run_record(r) for r in conn.execute(stmt.limit(limit))]


def get_run(store: Store, run_id: int) -> RunDetail:
    """A run with its jobs (in plan order), their steps, annotations and artifacts."""
    with store.transaction() as conn:
        row = conn.execute(
            select(*[_runs.c[f] for f in RunRecord.__slots__]).where(_runs.c.id == run_id)
        ).first()
        if row is None:
            raise RunError(
                f"no run {run_id} in the record at {store.path}", hint="see `stageline runs`"
            )
        steps: dict[str, list[StepRecord]] = {}
        for s in conn.execute(
            select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.number)
        ):
            steps.setdefault(s.job_key, []).append(
                StepRecord(**{f: getattr(s, f) for f in StepRecord.__slots__})
            )
        jobs = [
            JobRecord(
                **{f: getattr(j, f) for f in JobRecord.__slots__ if f != "steps"},
                steps=steps.get(j.key, []),
            )
            for j in conn.execute(
                select(_jobs).where(_jobs.c.run_id == run_id).order_by(_jobs.c.position, _jobs.c.id)
            )
        ]
        annotations = [
            AnnotationRecord(**{f: getattr(a, f) for f in AnnotationRecord.__slots__})
            for a in conn.execute(
                select(Annotation.__table__)
                .where(Annotation.__table__.c.run_id == run_id)
                .order_by(Annotation.__table__.c.id)
            )
        ]
        artifacts = [
            ArtifactRecord(**{f: getattr(a, f) for f in ArtifactRecord.__slots__})
            for a in conn.execute(
                select(Artifact.__table__)
                .where(Artifact.__table__.c.run_id == run_id)
                .order_by(Artifact.__table__.c.id)
            )
        ]
    return RunDetail(_run_record(row), jobs, annotations, artifacts)


def run_events(store: Store, run_id: int, *, after: int = 0) -> list[EventRecord]:
    """The run's audit trail, oldest first (`after` an event id, to follow it)."""
    table = EventRow.__table__
    with store.transaction() as conn:
        rows = conn.execute(
            select(table)
            .where(and_(table.c.run_id == run_id, table.c.id > after))
            .order_by(table.c.id)
        )
        return [EventRecord(r.id, r.job_key, r.kind, r.data, r.at) for r in rows]


def run_state(store: Store, run_id: int) -> tuple[str, str | None]:
    """`(status, conclusion)` of a run, cheaply (for `logs --follow`)."""
    with store.transaction() as conn:
        row = conn.execute(
            select(_runs.c.status, _runs.c.conclusion).where(_runs.c.id == run_id)
        ).first()
    if row is None:
        raise RunError(f"no run {run_id} in the record at {store.path}")
    return row.status, row.conclusion


def _pid_alive(pid: int) -> bool:
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
    if run.host == HOST and run.pid is not None and not _pid_alive(run.pid):
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
    with store.transaction() as conn:
        rows = conn.execute(
            select(*[_runs.c[f] for f in RunRecord.__slots__]).where(
                _runs.c.status.in_(ACTIVE_STATUSES)
            )
        ).all()
    reaped = []
    for run in map(_run_record, rows):
        reason = orphan_reason(run, now)
        if reason is None:
            continue
        conclusion = Conclusion.FAILURE if run.started_at else Conclusion.CANCELLED
        finish_orphan(store, run.id, reason, conclusion)
        reaped.append(run.id)
    return reaped
