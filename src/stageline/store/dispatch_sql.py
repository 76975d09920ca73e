"""`DispatchStore` on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Every state change is one conditional UPDATE (`... WHERE state = ...`), so of two
racing writers (a duplicate delivery's claim, the reaper and a late finish) exactly
one changes the row and the other learns it lost: the lease lives here, not in the
broker (ADR 0012).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, Table, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from stageline.store.sql import Transaction
from stageline.store.worker_models import JobAttempt, Worker
from stageline.store.worker_records import LIVE_ATTEMPT_STATES, AttemptRow, WorkerRow

_attempts: Table = JobAttempt.__table__  # type: ignore[assignment]
_workers: Table = Worker.__table__  # type: ignore[assignment]


def _attempt(row: Row[Any]) -> AttemptRow:
    return AttemptRow(
        id=row.id,
        run_id=row.run_id,
        job_key=row.job_key,
        number=row.number,
        queue=row.queue,
        labels=tuple(str(x) for x in row.labels or ()),
        state=row.state,
        worker=row.worker,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        lease_until=row.lease_until,
        cancel_requested=row.cancel_requested,
        reason=row.reason,
        last_seq=row.last_seq,
    )


def _worker(row: Row[Any]) -> WorkerRow:
    return WorkerRow(
        name=row.name,
        queues=tuple(str(q) for q in row.queues or ()),
        concurrency=row.concurrency,
        hostname=row.hostname,
        pid=row.pid,
        version=row.version,
        started_at=row.started_at,
        last_seen=row.last_seen,
        current=tuple(dict(c) for c in row.current or ()),
    )


class SqlDispatchStore:
    """`DispatchStore` (see `store.ports`) for both backends."""

    def __init__(self, transaction: Transaction) -> None:
        self._tx = transaction

    # -- attempts ------------------------------------------------------------------------

    def create_attempt(
        self, run_id: int, job_key: str, queue: str, labels: Sequence[str], number: int = 1
    ) -> AttemptRow:
        values = {
            "id": uuid.uuid4().hex,
            "run_id": run_id,
            "job_key": job_key,
            "number": number,
            "queue": queue,
            "labels": list(labels),
            "state": "queued",
            "created_at": time.time(),
            "last_seq": 0,
        }
        with self._tx() as conn:
            added = _attempts.insert().values(values).returning(_attempts)
            return _attempt(conn.execute(added).one())

    def get_attempt(self, attempt_id: str) -> AttemptRow | None:
        with self._tx() as conn:
            row = conn.execute(select(_attempts).where(_attempts.c.id == attempt_id)).first()
            return None if row is None else _attempt(row)

    def running_attempt(self, attempt_id: str, worker: str | None = None) -> AttemptRow | None:
        found = self.get_attempt(attempt_id)
        if found is None or found.state != "running":
            return None
        if worker is not None and found.worker != worker:
            return None
        return found

    def attempts_of_run(self, run_id: int) -> list[AttemptRow]:
        with self._tx() as conn:
            rows = conn.execute(
                select(_attempts)
                .where(_attempts.c.run_id == run_id)
                .order_by(_attempts.c.created_at, _attempts.c.number)
            )
            return [_attempt(r) for r in rows]

    def live_attempts(self) -> list[AttemptRow]:
        with self._tx() as conn:
            rows = conn.execute(select(_attempts).where(_attempts.c.state.in_(LIVE_ATTEMPT_STATES)))
            return [_attempt(r) for r in rows]

    def claim(self, attempt_id: str, worker: str, lease_until: float) -> AttemptRow | None:
        with self._tx() as conn:
            row = conn.execute(
                update(_attempts)
                .where(_attempts.c.id == attempt_id, _attempts.c.state == "queued")
                .values(
                    state="running",
                    worker=worker,
                    started_at=time.time(),
                    lease_until=lease_until,
                )
                .returning(_attempts)
            ).first()
            return None if row is None else _attempt(row)

    def extend_leases(
        self, worker: str, attempt_ids: Iterable[str], lease_until: float
    ) -> list[AttemptRow]:
        wanted = list(attempt_ids)
        if not wanted:
            return []
        running = (
            _attempts.c.id.in_(wanted),
            _attempts.c.state == "running",
            _attempts.c.worker == worker,
        )
        with self._tx() as conn:
            changed = update(_attempts).where(*running).values(lease_until=lease_until)
            return [_attempt(r) for r in conn.execute(changed.returning(_attempts))]

    def apply_batch(self, attempt_id: str, worker: str, seq: int) -> bool | None:
        with self._tx() as conn:
            mine = (
                _attempts.c.id == attempt_id,
                _attempts.c.state == "running",
                _attempts.c.worker == worker,
            )
            changed = conn.execute(
                update(_attempts).where(*mine, _attempts.c.last_seq < seq).values(last_seq=seq)
            ).rowcount
            if changed == 1:
                return True
            still = conn.execute(select(_attempts.c.id).where(*mine)).first()
            return None if still is None else False

    def finish_attempt(self, attempt_id: str, worker: str, reason: str | None = None) -> bool:
        with self._tx() as conn:
            changed = conn.execute(
                update(_attempts)
                .where(
                    _attempts.c.id == attempt_id,
                    _attempts.c.state == "running",
                    _attempts.c.worker == worker,
                )
                .values(state="finished", finished_at=time.time(), reason=reason)
            ).rowcount
            return bool(changed == 1)

    def end_attempt(
        self,
        attempt_id: str,
        state: str,
        reason: str,
        from_states: Sequence[str] = LIVE_ATTEMPT_STATES,
    ) -> bool:
        with self._tx() as conn:
            changed = conn.execute(
                update(_attempts)
                .where(_attempts.c.id == attempt_id, _attempts.c.state.in_(list(from_states)))
                .values(state=state, finished_at=time.time(), reason=reason)
            ).rowcount
            return bool(changed == 1)

    def request_attempt_cancel(self, attempt_id: str, reason: str) -> AttemptRow | None:
        with self._tx() as conn:
            conn.execute(
                update(_attempts)
                .where(
                    _attempts.c.id == attempt_id,
                    _attempts.c.state.in_(LIVE_ATTEMPT_STATES),
                    _attempts.c.cancel_requested.is_(None),
                )
                .values(cancel_requested=reason)
            )
            row = conn.execute(select(_attempts).where(_attempts.c.id == attempt_id)).first()
            return None if row is None else _attempt(row)

    def expired_leases(self, now: float) -> list[AttemptRow]:
        with self._tx() as conn:
            rows = conn.execute(
                select(_attempts).where(
                    _attempts.c.state == "running", _attempts.c.lease_until < now
                )
            )
            return [_attempt(r) for r in rows]

    # -- workers -------------------------------------------------------------------------

    def worker_beat(
        self,
        name: str,
        *,
        queues: Sequence[str],
        concurrency: int,
        hostname: str,
        pid: int,
        version: str,
        current: Sequence[dict[str, Any]],
        now: float | None = None,
    ) -> None:
        at = time.time() if now is None else now
        values = {
            "queues": list(queues),
            "concurrency": concurrency,
            "hostname": hostname,
            "pid": pid,
            "version": version,
            "last_seen": at,
            "current": [dict(c) for c in current],
        }
        with self._tx() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(_workers).values(name=name, started_at=at, **values)
            same_process = _workers.c.pid == insert.excluded.pid
            changed: dict[str, Any] = {k: insert.excluded[k] for k in values}
            # A restarted worker (another pid) starts its uptime again.
            changed["started_at"] = case(
                (same_process, _workers.c.started_at), else_=insert.excluded.started_at
            )
            conn.execute(insert.on_conflict_do_update(index_elements=["name"], set_=changed))

    def get_worker(self, name: str) -> WorkerRow | None:
        with self._tx() as conn:
            row = conn.execute(select(_workers).where(_workers.c.name == name)).first()
            return None if row is None else _worker(row)

    def list_workers(self, seen_since: float | None = None) -> list[WorkerRow]:
        query = select(_workers).order_by(_workers.c.name)
        if seen_since is not None:
            query = query.where(_workers.c.last_seen >= seen_since)
        with self._tx() as conn:
            return [_worker(r) for r in conn.execute(query)]


__all__ = ["SqlDispatchStore"]
