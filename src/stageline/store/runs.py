"""Writing runs: creating one, recording its transitions, cross-process controls.

`RunRecorder` is the engine's write-through path. Each call queues one Core
statement; `flush()` runs everything queued in a single short transaction,
grouping consecutive identical statements into one `executemany`. The engine
flushes once per turn of its event loop (the recorder asks for that through
the `schedule` callback when its queue becomes non-empty), so a burst of jobs
finishing together costs one commit, and nothing waits on a timer.

Everything here is plain SQL on the store's `sqlite3` connection (`Store.write`):
the run path never loads SQLAlchemy. The tables are the models' (`store.models`,
the schema's source of truth); values are converted the way the models' column
types store them (`sql_time`, JSON text), and a test reads what is written here
back through the models.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store.db import Store

HOST = socket.gethostname()

#: `status IN (...)` for the statuses of a run or job that has not finished.
ACTIVE_IN = "(" + ", ".join(f"'{s.value}'" for s in ACTIVE_STATUSES) + ")"


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job row to create (a planned job or one matrix leg)."""

    key: str
    job_id: str
    name: str
    needs: list[str]
    matrix: dict[str, Any] | None = None
    environment: str | None = None
    concurrency_group: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    repo_path: str
    repository: str
    workflow: str
    workflow_path: str
    event: str
    ref: str
    sha: str
    actor: str
    plan: dict[str, Any]
    concurrency_group: str | None = None


def create_run(store: Store, new: NewRun, jobs: Iterable[NewJob], log_root: str) -> tuple[int, int]:
    """Create a queued run and its jobs; returns `(run_id, number)`.

    The number is the next one for the repository, allocated inside the write
    transaction, so two processes starting runs at once get distinct numbers.
    """
    now = time.time()
    with store.write() as cur:
        cur.execute(
            "SELECT coalesce(max(number), 0) + 1 FROM runs WHERE repo_path = ?", (new.repo_path,)
        )
        number = cur.fetchone()[0]
        run_row = {
            "number": number,
            "attempt": 1,
            "repo_path": new.repo_path,
            "repository": new.repository,
            "workflow": new.workflow,
            "workflow_path": new.workflow_path,
            "event": new.event,
            "ref": new.ref,
            "sha": new.sha,
            "actor": new.actor,
            "status": Status.QUEUED,
            "created_at": now,
            "pid": os.getpid(),
            "host": HOST,
            "heartbeat_at": now,
            "concurrency_group": new.concurrency_group,
            "log_dir": "",
            "plan": new.plan,
        }
        cur.execute(*insert_sql("runs", run_row))
        assert cur.lastrowid is not None
        run_id: int = cur.lastrowid
        log_dir = os.path.join(log_root, str(run_id))
        cur.execute("UPDATE runs SET log_dir = ? WHERE id = ?", (log_dir, run_id))
        rows = [_job_row(run_id, i, job, now) for i, job in enumerate(jobs)]
        if rows:
            sql, _ = insert_sql("jobs", rows[0])
            cur.executemany(sql, [tuple(_sql_value(c, v) for c, v in r.items()) for r in rows])
        event: dict[str, Any] = {
            "run_id": run_id,
            "job_key": None,
            "kind": "run.queued",
            "data": {},
            "at": now,
        }
        cur.execute(*insert_sql("events", event))
    return int(run_id), int(number)


def _job_row(run_id: int, position: int, job: NewJob, now: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "key": job.key,
        "job_id": job.job_id,
        "name": job.name,
        "position": position,
        "needs": job.needs,
        "matrix": job.matrix,
        "environment": job.environment,
        "concurrency_group": job.concurrency_group,
        "status": Status.QUEUED,
        "outputs": {},
        "created_at": now,
    }


def sql_time(value: float | None) -> str | None:
    """A `time.time()` as SQLAlchemy's SQLite DateTime stores it (naive UTC text)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_sql(table: str, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """`INSERT INTO table (...) VALUES (?, ...)` and its converted parameters."""
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})"
    return sql, tuple(_sql_value(c, v) for c, v in values.items())


def _sql_value(column: str, value: Any) -> Any:
    if column in _TIME_COLUMNS:
        return sql_time(value)
    if column in _JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


_TIME_COLUMNS = frozenset(
    {"created_at", "started_at", "finished_at", "heartbeat_at", "expires_at", "at"}
)
_JSON_COLUMNS = frozenset({"outputs", "matrix", "needs", "data", "plan"})


class RunRecorder:
    """Queues a run's state changes and writes them in batches (see module doc).

    Statements are plain SQL (see the module doc): compiling SQLAlchemy Core
    statements cost more than the writes themselves.
    """

    def __init__(
        self, store: Store, run_id: int, schedule: Callable[[Callable[[], None]], Any] | None = None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self._schedule = schedule
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._positions = 10_000

    # -- queueing ----------------------------------------------------------------------

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        if not self._pending and self._schedule is not None:
            self._schedule(self.flush)
        self._pending.append((sql, params))

    def _update(self, table: str, values: dict[str, Any], where: tuple[Any, ...]) -> None:
        cols = tuple(values)
        sql = self._sql.get((table, cols))
        if sql is None:
            sets = ", ".join(f"{c} = ?" for c in cols)
            cond = {
                "runs": "id = ?",
                "jobs": "run_id = ? AND key = ?",
                "steps": "run_id = ? AND job_key = ? AND number = ?",
            }[table]
            sql = self._sql[(table, cols)] = f"UPDATE {table} SET {sets} WHERE {cond}"
        params = tuple(_sql_value(c, v) for c, v in values.items())
        self._queue(sql, params + where)

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        cols = tuple(values)
        sql = self._sql.get((f"+{table}", cols))
        if sql is None:
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
            self._sql[(f"+{table}", cols)] = sql
        self._queue(sql, tuple(_sql_value(c, v) for c, v in values.items()))

    def run(self, **values: Any) -> None:
        """Update the run's row (status, conclusion, times, reason, waiting_for...)."""
        self._update("runs", values, (self.run_id,))

    def job(self, key: str, **values: Any) -> None:
        self._update("jobs", values, (self.run_id, key))

    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None:
        """Add jobs during the run (a deferred matrix's legs replace its placeholder)."""
        now = time.time()
        if replacing is not None:
            self._queue("DELETE FROM jobs WHERE run_id = ? AND key = ?", (self.run_id, replacing))
        for job in jobs:
            self._positions += 1
            self._insert("jobs", _job_row(self.run_id, self._positions, job, now))

    def step_started(self, job_key: str, number: int, name: str, at: float) -> None:
        self._insert(
            "steps",
            {
                "run_id": self.run_id,
                "job_key": job_key,
                "number": number,
                "name": name,
                "status": Status.IN_PROGRESS,
                "started_at": at,
                "outputs": {},
            },
        )

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None:
        """Complete a step's row; a step never started (skipped) gets its row here."""
        values["status"] = Status.COMPLETED
        if started:
            self._update("steps", values, (self.run_id, job_key, number))
        else:
            row = {"run_id": self.run_id, "job_key": job_key, "number": number, "outputs": {}}
            row.update(values)
            self._insert("steps", row)

    def annotation(self, job_key: str, **values: Any) -> None:
        self._insert("annotations", {"run_id": self.run_id, "job_key": job_key, **values})

    def artifact(self, job_key: str, **values: Any) -> None:
        values.setdefault("created_at", time.time())
        self._insert("artifacts", {"run_id": self.run_id, "job_key": job_key, **values})

    def event(
        self, kind: str, job_key: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        """Append to the run's audit trail of transitions."""
        self._insert(
            "events",
            {
                "run_id": self.run_id,
                "job_key": job_key,
                "kind": kind,
                "data": data or {},
                "at": time.time(),
            },
        )

    # -- writing -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Write everything queued in one transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self._write(pending)
        except BaseException:
            self._pending = pending + self._pending  # kept for the next attempt
            raise

    def _write(self, pending: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self.store.write() as cursor:
            i = 0
            while i < len(pending):
                sql = pending[i][0]
                j = i + 1
                while j < len(pending) and pending[j][0] is sql:
                    j += 1
                if j - i == 1:
                    cursor.execute(sql, pending[i][1])
                else:
                    cursor.executemany(sql, [p for _, p in pending[i:j]])
                i = j


# -- controls other processes read or set ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Controls:
    """What other processes asked of a run: stop it, or stop some of its jobs."""

    cancel_run: str | None
    cancel_jobs: dict[str, str]


def heartbeat(store: Store, run_id: int) -> Controls:
    """Refresh the run's heartbeat and read the cancel requests set on it."""
    with store.write() as cur:
        cur.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE id = ?", (sql_time(time.time()), run_id)
        )
        row = cur.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        rows = cur.execute(
            "SELECT key, cancel_requested FROM jobs WHERE run_id = ? "
            "AND cancel_requested IS NOT NULL AND status != ?",
            (run_id, Status.COMPLETED.value),
        ).fetchall()
    return Controls(row[0] if row else None, dict(rows))


def request_job_cancel(store: Store, job_pk: int, reason: str) -> None:
    """Ask an active job (of any run) to stop; its run's process notices on its heartbeat."""
    with store.write() as cur:
        cur.execute(
            "UPDATE jobs SET cancel_requested = ? WHERE id = ? AND status != ?",
            (reason, job_pk, Status.COMPLETED.value),
        )


def request_cancel(store: Store, run_id: int, reason: str) -> bool:
    """Ask an active run to stop (its process notices on its next heartbeat)."""
    with store.write() as cur:
        cur.execute(
            f"UPDATE runs SET cancel_requested = ? WHERE id = ? AND status IN {ACTIVE_IN}",
            (reason, run_id),
        )
        changed = cur.rowcount
        if changed:
            event = {
                "run_id": run_id,
                "kind": "run.cancel_requested",
                "data": {"reason": reason},
                "at": time.time(),
            }
            cur.execute(*insert_sql("events", event))
        return bool(changed)


@dataclass(frozen=True, slots=True)
class GroupMember:
    """An active run or job in a concurrency group."""

    run_id: int
    number: int
    job_pk: int | None
    status: str


def active_runs_in_group(store: Store, group: str) -> list[GroupMember]:
    """Active runs of a workflow-level concurrency group, oldest first."""
    with store.write() as cur:
        rows = cur.execute(
            f"SELECT id, number, status FROM runs WHERE concurrency_group = ? "
            f"AND status IN {ACTIVE_IN} ORDER BY id",
            (group,),
        ).fetchall()
    return [GroupMember(run_id, number, None, status) for run_id, number, status in rows]


def active_jobs_in_group(store: Store, group: str) -> list[GroupMember]:
    """Active jobs of a job-level concurrency group, in the order they asked."""
    statuses = (Status.PENDING.value, Status.IN_PROGRESS.value, Status.WAITING.value)
    with store.write() as cur:
        rows = cur.execute(
            "SELECT jobs.id, jobs.run_id, runs.number, jobs.status FROM jobs "
            "JOIN runs ON runs.id = jobs.run_id "
            "WHERE jobs.concurrency_group = ? AND jobs.status IN (?, ?, ?) ORDER BY jobs.id",
            (group, *statuses),
        ).fetchall()
    return [GroupMember(run_id, number, pk, status) for pk, run_id, number, status in rows]


def job_pk(store: Store, run_id: int, key: str) -> int:
    with store.write() as cur:
        row = cur.execute(
            "SELECT id FROM jobs WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
    if row is None:
        raise LookupError(f"no job {key!r} in run {run_id}")
    return int(row[0])


def finish_orphan(store: Store, run_id: int, reason: str, conclusion: Conclusion) -> None:
    """Complete a run whose process is gone, and every job it left unfinished."""
    now = sql_time(time.time())
    completed, cancelled = Status.COMPLETED.value, Conclusion.CANCELLED.value
    with store.write() as cur:
        cur.execute(
            "UPDATE runs SET status = ?, conclusion = ?, finished_at = ?, reason = ?, "
            f"waiting_for = NULL WHERE id = ? AND status IN {ACTIVE_IN}",
            (completed, str(conclusion), now, reason, run_id),
        )
        cur.execute(
            "UPDATE jobs SET status = ?, conclusion = ?, finished_at = ?, reason = ?, "
            "waiting_for = NULL WHERE run_id = ? AND status != ?",
            (completed, cancelled, now, reason, run_id, completed),
        )
        cur.execute(
            "UPDATE steps SET status = ?, outcome = ?, conclusion = ?, finished_at = ? "
            "WHERE run_id = ? AND status != ?",
            (completed, cancelled, cancelled, now, run_id, completed),
        )
        event = {
            "run_id": run_id,
            "kind": "run.orphaned",
            "data": {"reason": reason, "conclusion": str(conclusion)},
            "at": time.time(),
        }
        cur.execute(*insert_sql("events", event))
