"""The SQLite store: one file, `<home>/stageline.db`, the local default.

The file runs in WAL mode with `synchronous=NORMAL` (a commit costs no fsync; a
power cut may lose the last transactions but never corrupts the file) and a busy
timeout, so several `stageline` processes can read and write it at once. Every
transaction starts with `BEGIN IMMEDIATE`: a writer takes the write lock up front,
so a run number or an environment claim is decided by one writer at a time, and a
second writer waits on the busy timeout instead of failing. A read (`read()`,
`reading()`) is a deferred transaction: one snapshot of the file, without the write
lock, so readers (the server's requests) never wait for a writer nor hold one up.

The run path (`SQLiteRunStore`, `SQLiteRecorder`) is plain SQL on the stdlib
`sqlite3` connection: SQLAlchemy, whose import costs more than a whole short run, is
loaded only when something asks for `conn`/`transaction()` (the delivery tables,
migrations). Both share the one DBAPI connection, so a setting made through either
applies to both. Values are converted by `store.columns` (times as Unix seconds).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stageline.errors import StoreError
from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store import faults, liveness
from stageline.store.columns import from_sqlite, sqlite_time, to_sqlite
from stageline.store.logs import resolved_path, stored_path
from stageline.store.records import (
    AnnotationRecord,
    ArtifactRecord,
    Controls,
    EventRecord,
    GroupMember,
    JobRecord,
    NewJob,
    NewRun,
    RunDetail,
    RunInfo,
    RunRecord,
    StepRecord,
    no_run,
)
from stageline.store.rows import event_row, job_row, run_row, step_row

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from stageline.store.ports import DeploymentStore, DispatchStore, ServerStore
    from stageline.store.secret_sql import SecretStore

DB_NAME = "stageline.db"
#: `Connection.info` key: the transaction `SQLiteStore.reading()` begins only reads.
_DEFERRED = "stageline_deferred"
BUSY_TIMEOUT_MS = 30_000

#: `status IN (...)` for the statuses of a run or job that has not finished.
ACTIVE_IN = "(" + ", ".join(f"'{s.value}'" for s in ACTIVE_STATUSES) + ")"

R = TypeVar("R")


class SQLiteStore:
    """An open SQLite store: one connection, and the directory logs live under.

    `raw` is the `sqlite3` connection (autocommit mode: `write()` opens each
    transaction); `conn`/`engine` wrap that same connection in SQLAlchemy on first
    use. Not thread-safe; one per process (or per event loop) is the intent.
    """

    def __init__(self, home: Path, raw: sqlite3.Connection) -> None:
        self.home = home
        self.raw = raw
        self.runs = SQLiteRunStore(self)
        self._deployments: DeploymentStore | None = None
        self._server: ServerStore | None = None
        self._dispatch: DispatchStore | None = None
        self._secrets: SecretStore | None = None
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    @property
    def path(self) -> Path:
        return self.home / DB_NAME

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def deployments(self) -> DeploymentStore:
        if self._deployments is None:
            from stageline.store.sql import SqlDeploymentStore

            self._deployments = SqlDeploymentStore(self.transaction, lock=None)
        return self._deployments

    @property
    def server(self) -> ServerStore:
        if self._server is None:
            from stageline.store.server_sql import SqlServerStore

            self._server = SqlServerStore(self.transaction, self.reading)
        return self._server

    @property
    def dispatch(self) -> DispatchStore:
        if self._dispatch is None:
            from stageline.store.dispatch_sql import SqlDispatchStore

            self._dispatch = SqlDispatchStore(self.transaction)
        return self._dispatch

    @property
    def secrets(self) -> SecretStore:
        """On the raw connection: a run reads its secrets without SQLAlchemy."""
        if self._secrets is None:
            from stageline.store.secret_sql import SecretStore

            self._secrets = SecretStore(self._execute, self.home, unix_times=True)
        return self._secrets

    def _execute(self, sql: str, params: dict[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        """One statement: a read without the write lock, a write in its own transaction."""
        if sql.startswith("SELECT"):
            try:
                return self.raw.execute(sql, params).fetchall(), -1
            except sqlite3.Error as err:
                raise StoreError(f"cannot read the record at {self.path}: {err}") from err
        with self.write() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall(), cursor.rowcount

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _make_engine(self.path, self.raw)
        return self._engine

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Cursor]:
        """A short write transaction on the raw connection (BEGIN IMMEDIATE ... COMMIT)."""
        cursor = self.raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                self.raw.rollback()
                raise
            self.raw.commit()
        except sqlite3.Error as err:
            with suppress(sqlite3.Error):
                self.raw.rollback()
            raise StoreError(f"cannot write the record at {self.path}: {err}") from err
        finally:
            cursor.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Cursor]:
        """A read transaction on the raw connection (BEGIN ... COMMIT): a snapshot, no lock."""
        cursor = self.raw.cursor()
        try:
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                self.raw.rollback()
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the record at {self.path}: {err}") from err
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A short write transaction through SQLAlchemy (BEGIN IMMEDIATE ... COMMIT)."""
        with self._begin(deferred=False) as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction through SQLAlchemy (BEGIN ... ): a snapshot, no lock."""
        with self._begin(deferred=True) as conn:
            yield conn

    @contextmanager
    def _begin(self, *, deferred: bool) -> Iterator[Connection]:
        from sqlalchemy.exc import OperationalError

        conn = self.conn
        verb = "read" if deferred else "write"
        conn.info[_DEFERRED] = deferred
        try:
            with conn.begin():
                yield conn
        except OperationalError as err:
            raise StoreError(f"cannot {verb} the record at {self.path}: {err.orig}") from err
        except sqlite3.Error as err:
            raise StoreError(f"cannot {verb} the record at {self.path}: {err}") from err
        finally:
            conn.info[_DEFERRED] = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self.raw.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection for one thread at a time (`check_same_thread=False` only so that the
    server can close a worker thread's connection at exit)."""
    raw = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _wal(raw)
    raw.execute("PRAGMA synchronous = NORMAL")
    raw.execute("PRAGMA foreign_keys = ON")
    return raw


def _wal(raw: sqlite3.Connection) -> None:
    """Switch to WAL. SQLite answers "database is locked" at once, without its busy
    handler, while another process creates the file or switches it itself (a reader
    polling a run that is just starting): retry for as long as the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            raw.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _make_engine(path: Path, raw: sqlite3.Connection) -> Engine:
    """SQLAlchemy over the store's own connection (never a second one)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import StaticPool

    engine = create_engine(f"sqlite:///{path}", creator=lambda: raw, poolclass=StaticPool)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.info.get(_DEFERRED) else "BEGIN IMMEDIATE")

    return engine


# -- plain SQL helpers ---------------------------------------------------------------------


def insert_sql(table: str, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """`INSERT INTO table (...) VALUES (?, ...)` and its converted parameters."""
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({', '.join(values)}) VALUES ({marks})"
    return sql, tuple(to_sqlite(c, v) for c, v in values.items())


def _select(
    cur: sqlite3.Cursor,
    record: Callable[..., R],
    columns: Iterable[str],
    sql: str,
    params: tuple[Any, ...],
) -> list[R]:
    """`SELECT columns` + `sql`, each row as `record(**row)` with the columns' types."""
    names = list(columns)
    convert = [(i, f) for i, c in enumerate(names) if (f := from_sqlite(c)) is not None]
    out = []
    for row in cur.execute(f"SELECT {', '.join(names)} {sql}", params).fetchall():
        values = list(row)
        for i, f in convert:
            values[i] = f(values[i])
        out.append(record(**dict(zip(names, values, strict=True))))
    return out


def _columns(**values: Any) -> dict[str, Any]:
    return values


def _step(job_key: str, **values: Any) -> tuple[str, StepRecord]:
    return job_key, StepRecord(**values)


JOB_COLUMNS = [f for f in JobRecord.__slots__ if f != "steps"]
RUN_INFO_COLUMNS = list(RunInfo.__slots__)


# -- the run store -------------------------------------------------------------------------


class SQLiteRunStore:
    """`RunStore` on plain `sqlite3` (see the module doc)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def create_run(self, new: NewRun, jobs: Iterable[NewJob], log_root: str) -> tuple[int, int]:
        """The number is allocated inside the BEGIN IMMEDIATE transaction: one writer at a time."""
        now = time.time()
        with self.store.write() as cur:
            cur.execute(
                "SELECT coalesce(max(number), 0) + 1 FROM runs WHERE repo_path = ?",
                (new.repo_path,),
            )
            number = int(cur.fetchone()[0])
            cur.execute(*insert_sql("runs", run_row(new, number, now)))
            assert cur.lastrowid is not None
            run_id = int(cur.lastrowid)
            log_dir = stored_path(self.store.home, os.path.join(log_root, str(run_id)))
            cur.execute("UPDATE runs SET log_dir = ? WHERE id = ?", (log_dir, run_id))
            rows = [job_row(run_id, i, job, now) for i, job in enumerate(jobs)]
            if rows:
                sql, _ = insert_sql("jobs", rows[0])
                cur.executemany(sql, [tuple(to_sqlite(c, v) for c, v in r.items()) for r in rows])
            cur.execute(*insert_sql("events", event_row(run_id, "run.queued", None, None)))
        return run_id, number

    def recorder(
        self, run_id: int, schedule: Callable[[Callable[[], None]], Any] | None = None
    ) -> SQLiteRecorder:
        return SQLiteRecorder(self.store, run_id, schedule)

    def heartbeat(self, run_id: int) -> Controls:
        with self.store.write() as cur:
            cur.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), run_id))
            row = cur.execute(
                "SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            rows = cur.execute(
                "SELECT key, cancel_requested FROM jobs WHERE run_id = ? "
                "AND cancel_requested IS NOT NULL AND status != ?",
                (run_id, Status.COMPLETED.value),
            ).fetchall()
        return Controls(row[0] if row else None, dict(rows))

    def request_job_cancel(self, job_pk: int, reason: str) -> None:
        with self.store.write() as cur:
            cur.execute(
                "UPDATE jobs SET cancel_requested = ? WHERE id = ? AND status != ?",
                (reason, job_pk, Status.COMPLETED.value),
            )

    def request_cancel(self, run_id: int, reason: str) -> bool:
        with self.store.write() as cur:
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

    def active_runs_in_group(self, group: str) -> list[GroupMember]:
        with self.store.write() as cur:
            rows = cur.execute(
                f"SELECT id, number, status FROM runs WHERE concurrency_group = ? "
                f"AND status IN {ACTIVE_IN} ORDER BY id",
                (group,),
            ).fetchall()
        return [GroupMember(run_id, number, None, status) for run_id, number, status in rows]

    def active_jobs_in_group(self, group: str) -> list[GroupMember]:
        statuses = (Status.PENDING.value, Status.IN_PROGRESS.value, Status.WAITING.value)
        with self.store.write() as cur:
            rows = cur.execute(
                "SELECT jobs.id, jobs.run_id, runs.number, jobs.status FROM jobs "
                "JOIN runs ON runs.id = jobs.run_id "
                "WHERE jobs.concurrency_group = ? AND jobs.status IN (?, ?, ?) ORDER BY jobs.id",
                (group, *statuses),
            ).fetchall()
        return [GroupMember(run_id, number, pk, status) for pk, run_id, number, status in rows]

    def job_pk(self, run_id: int, key: str) -> int:
        with self.store.write() as cur:
            row = cur.execute(
                "SELECT id FROM jobs WHERE run_id = ? AND key = ?", (run_id, key)
            ).fetchone()
        if row is None:
            raise LookupError(f"no job {key!r} in run {run_id}")
        return int(row[0])

    def finish_orphan(self, run_id: int, reason: str, conclusion: Conclusion) -> None:
        at = time.time()
        completed, cancelled = Status.COMPLETED.value, Conclusion.CANCELLED.value
        with self.store.write() as cur:
            cur.execute(
                "UPDATE runs SET status = ?, conclusion = ?, finished_at = ?, reason = ?, "
                f"waiting_for = NULL WHERE id = ? AND status IN {ACTIVE_IN}",
                (completed, str(conclusion), at, reason, run_id),
            )
            cur.execute(
                "UPDATE jobs SET status = ?, conclusion = ?, finished_at = ?, reason = ?, "
                "waiting_for = NULL WHERE run_id = ? AND status != ?",
                (completed, cancelled, at, reason, run_id, completed),
            )
            cur.execute(
                "UPDATE steps SET status = ?, outcome = ?, conclusion = ?, finished_at = ? "
                "WHERE run_id = ? AND status != ?",
                (completed, cancelled, cancelled, at, run_id, completed),
            )
            cur.execute(  # a deploy it left: the environment's state is now unknown
                "UPDATE deployments SET status = 'failure', reason = ?, finished_at = ? "
                "WHERE run_id = ? AND kind = 'deploy' AND status = 'in_progress'",
                (liveness.interrupted(reason), at, run_id),
            )
            cur.execute(
                "UPDATE deployments SET status = 'failure', reason = ?, finished_at = ? "
                "WHERE run_id = ? AND status = 'queued'",
                (f"cancelled before it started: {reason}", at, run_id),
            )
            event = {
                "run_id": run_id,
                "kind": "run.orphaned",
                "data": {"reason": reason, "conclusion": str(conclusion)},
                "at": at,
            }
            cur.execute(*insert_sql("events", event))

    def reap_orphans(self, *, now: float | None = None) -> list[int]:
        with self.store.write() as cur:
            sql = f"FROM runs WHERE status IN {ACTIVE_IN}"
            active = _select(cur, RunRecord, RunRecord.__slots__, sql, ())
        return liveness.reap(active, self.finish_orphan, now)

    def list_runs(
        self,
        *,
        repo_path: str | None = None,
        limit: int = 50,
        before: int | None = None,
        status: str | None = None,
        branch: str | None = None,
        workflow: str | None = None,
    ) -> list[RunRecord]:
        terms: list[str] = []
        params: list[Any] = []
        for term, values in (
            ("repo_path = ?", (repo_path,)),
            ("id < ?", (before,)),
            ("(status = ? OR (status = 'completed' AND conclusion = ?))", (status, status)),
            ("ref = ?", (f"refs/heads/{branch}" if branch is not None else None,)),
            ("(workflow = ? OR workflow_path = ?)", (workflow, workflow)),
        ):
            if values[0] is not None:
                terms.append(term)
                params.extend(values)
        where = f"WHERE {' AND '.join(terms)} " if terms else ""
        with self.store.read() as cur:
            sql = f"FROM runs {where}ORDER BY id DESC LIMIT ?"
            found = _select(cur, RunRecord, RunRecord.__slots__, sql, (*params, limit))
        return [self._resolved(run) for run in found]

    def _resolved(self, run: RunRecord) -> RunRecord:
        """`run` with its log directory absolute (the store keeps it relative)."""
        if not run.log_dir or not run.log_dir.startswith("logs/"):
            return run
        return replace(run, log_dir=os.path.join(self.store.home, run.log_dir))

    def get_run(self, run_id: int) -> RunDetail:
        key = (run_id,)
        with self.store.read() as cur:
            found = _select(cur, RunRecord, RunRecord.__slots__, "FROM runs WHERE id = ?", key)
            if not found:
                raise no_run(self.store.where, run_id)
            steps: dict[str, list[StepRecord]] = {}
            columns = ["job_key", *StepRecord.__slots__]
            sql = "FROM steps WHERE run_id = ? ORDER BY number"
            for job_key, step in _select(cur, _step, columns, sql, key):
                if step.log_path and step.log_path.startswith("logs/"):
                    step = replace(step, log_path=resolved_path(self.store.home, step.log_path))
                steps.setdefault(job_key, []).append(step)
            sql = "FROM jobs WHERE run_id = ? ORDER BY position, id"
            jobs = [
                JobRecord(**values, steps=steps.get(values["key"], []))
                for values in _select(cur, _columns, JOB_COLUMNS, sql, key)
            ]
            sql = "FROM annotations WHERE run_id = ? ORDER BY id"
            annotations = _select(cur, AnnotationRecord, AnnotationRecord.__slots__, sql, key)
            sql = "FROM artifacts WHERE run_id = ? ORDER BY id"
            artifacts = _select(cur, ArtifactRecord, ArtifactRecord.__slots__, sql, key)
        return RunDetail(self._resolved(found[0]), jobs, annotations, artifacts)

    def run_events(self, run_id: int, *, after: int = 0) -> list[EventRecord]:
        sql = "FROM events WHERE run_id = ? AND id > ? ORDER BY id"
        with self.store.read() as cur:
            return _select(cur, EventRecord, EventRecord.__slots__, sql, (run_id, after))

    def run_state(self, run_id: int) -> tuple[str, str | None]:
        with self.store.read() as cur:
            row = cur.execute(
                "SELECT status, conclusion FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise no_run(self.store.where, run_id, hint=None)
        return row[0], row[1]

    def find_run(self, run: int, repo_path: str | None = None) -> RunInfo | None:
        found: list[RunInfo] = []
        with self.store.read() as cur:
            if repo_path is not None:
                sql = "FROM runs WHERE repo_path = ? AND number = ?"
                found = _select(cur, RunInfo, RUN_INFO_COLUMNS, sql, (repo_path, run))
            if not found:
                found = _select(cur, RunInfo, RUN_INFO_COLUMNS, "FROM runs WHERE id = ?", (run,))
        return found[0] if found else None

    def run_alive(self, run_id: int) -> bool:
        with self.store.read() as cur:
            row = cur.execute(
                "SELECT status, pid, host, heartbeat_at FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            return False
        status, pid, host, beat = row
        return liveness.run_alive(status, pid, host, sqlite_time(beat))

    def reset_unfinished(self, run_id: int, keep: set[str], planned: set[str]) -> None:
        with self.store.write() as cur:
            keys = [k for (k,) in cur.execute("SELECT key FROM jobs WHERE run_id = ?", (run_id,))]
            redo = [k for k in keys if k not in keep or k not in planned]
            gone = [k for k in redo if k not in planned]
            for table, column, victims in (
                ("steps", "job_key", redo),
                ("annotations", "job_key", redo),
                ("jobs", "key", gone),
            ):
                cur.executemany(
                    f"DELETE FROM {table} WHERE run_id = ? AND {column} = ?",
                    [(run_id, k) for k in victims],
                )
            cur.executemany(
                "UPDATE jobs SET status = ?, conclusion = NULL, reason = NULL, "
                "started_at = NULL, finished_at = NULL, waiting_for = NULL, "
                "cancel_requested = NULL WHERE run_id = ? AND key = ? AND status = ?",
                [(Status.QUEUED.value, run_id, k, Status.COMPLETED.value) for k in redo],
            )

    def mark_run_resumed(self, run_id: int, attempt: int, *, reopen: bool = False) -> bool:
        now = time.time()
        reopened = (
            f", status = '{Status.IN_PROGRESS.value}', conclusion = NULL, finished_at = NULL, "
            f"reason = NULL, waiting_for = NULL"
            if reopen
            else ""
        )
        with self.store.write() as cur:
            cur.execute(
                "UPDATE runs SET pid = ?, host = ?, heartbeat_at = ?, cancel_requested = NULL, "
                f"attempt = ?{reopened} WHERE id = ? AND attempt = ?",
                (os.getpid(), liveness.HOST, now, attempt, run_id, attempt - 1),
            )
            if cur.rowcount != 1:
                return False
            event = {"run_id": run_id, "kind": "run.resumed", "data": {}, "at": now}
            cur.execute(*insert_sql("events", event))
        return True


class SQLiteRecorder:
    """`Recorder` as plain SQL: statements are built once per column set and cached
    (compiling SQLAlchemy statements cost more than the writes themselves), and
    consecutive identical statements are written with one `executemany`."""

    def __init__(
        self,
        store: SQLiteStore,
        run_id: int,
        schedule: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self._schedule = schedule
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._positions = 10_000

    def _queue(self, sql: str, params: tuple[Any, ...]) -> None:
        if not self._pending and self._schedule is not None:
            self._schedule(self.flush)
        self._pending.append((sql, params))

    def _update(self, table: str, values: dict[str, Any], where: tuple[Any, ...]) -> None:
        cols = tuple(values)
        sql = self._sql.get((table, cols))
        if sql is None:
            sets = ", ".join(f"{c} = ?" for c in cols)
            sql = self._sql[(table, cols)] = f"UPDATE {table} SET {sets} WHERE {_KEYS[table]}"
        params = tuple(to_sqlite(c, v) for c, v in values.items())
        self._queue(sql, params + where)

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        cols = tuple(values)
        sql = self._sql.get((f"+{table}", cols))
        if sql is None:
            marks = ", ".join("?" for _ in cols)
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
            self._sql[(f"+{table}", cols)] = sql
        self._queue(sql, tuple(to_sqlite(c, v) for c, v in values.items()))

    def run(self, **values: Any) -> None:
        self._update("runs", values, (self.run_id,))

    def job(self, key: str, **values: Any) -> None:
        self._update("jobs", values, (self.run_id, key))

    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None:
        now = time.time()
        if replacing is not None:
            self._queue("DELETE FROM jobs WHERE run_id = ? AND key = ?", (self.run_id, replacing))
        for job in jobs:
            self._positions += 1
            self._insert("jobs", job_row(self.run_id, self._positions, job, now))

    def clear_steps(self, job_key: str) -> None:
        self._queue("DELETE FROM steps WHERE run_id = ? AND job_key = ?", (self.run_id, job_key))

    def step_started(
        self, job_key: str, number: int, name: str, at: float, log_path: str | None = None
    ) -> None:
        log_path = stored_path(self.store.home, log_path)
        self._insert("steps", step_row(self.run_id, job_key, number, name, at, log_path))

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None:
        values["status"] = Status.COMPLETED
        if values.get("log_path"):
            values["log_path"] = stored_path(self.store.home, values["log_path"])
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
        self._insert("events", event_row(self.run_id, kind, job_key, data))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
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
            faults.point("record.write")  # tests/faults: die mid-transaction


#: How the recorder finds a row to update, per table.
_KEYS = {
    "runs": "id = ?",
    "jobs": "run_id = ? AND key = ?",
    "steps": "run_id = ? AND job_key = ? AND number = ?",
}
