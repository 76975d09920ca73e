"""The ports on SQLAlchemy Core: the PostgreSQL run store, and the delivery tables on
both backends.

Values convert through the models' column types (`UTCDateTime`, `JSON`; see
`store.columns`). Every method is one transaction from the store's `transaction()`.
The races (the next run number, an environment's claim) are serialized by `lock`:
on PostgreSQL a transaction-scoped advisory lock on the repository or environment
(`pg_advisory_xact_lock`), on SQLite nothing more than its `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql.dml import Delete, Insert, Update

from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store import liveness
from stageline.store.deploy_models import Deployment, Gate, GateDecision, Rollback
from stageline.store.deploy_records import (
    SUCCEEDED,
    UNFINISHED,
    DecisionRow,
    DeploymentRow,
    GateRow,
    RollbackRow,
)
from stageline.store.logs import LOGS, resolved_path, stored_path
from stageline.store.models import Annotation, Artifact, EventRow, Job, Run, Step
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

T = TypeVar("T")
Transaction = Callable[[], AbstractContextManager[Connection]]
#: Serializes a race inside the current transaction, by key (None: the backend already does).
Lock = Callable[[Connection, str], None] | None

_runs: Table = Run.__table__  # type: ignore[assignment]
_jobs: Table = Job.__table__  # type: ignore[assignment]
_steps: Table = Step.__table__  # type: ignore[assignment]
_notes: Table = Annotation.__table__  # type: ignore[assignment]
_artifacts: Table = Artifact.__table__  # type: ignore[assignment]
_events: Table = EventRow.__table__  # type: ignore[assignment]
_deployments: Table = Deployment.__table__  # type: ignore[assignment]
_gates: Table = Gate.__table__  # type: ignore[assignment]
_decisions: Table = GateDecision.__table__  # type: ignore[assignment]
_rollbacks: Table = Rollback.__table__  # type: ignore[assignment]

_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_COMPLETED = Status.COMPLETED.value


def advisory_lock(conn: Connection, key: str) -> None:
    """PostgreSQL: hold a lock on `key` until the transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items()}


def _rows(cls: type[T], rows: Iterable[Any]) -> list[T]:
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return [cls(**{n: getattr(r, n) for n in names}) for r in rows]


def _one(cls: type[T], row: Row[Any] | None) -> T | None:
    return None if row is None else _rows(cls, [row])[0]


# -- runs ----------------------------------------------------------------------------------


class CoreRunStore:
    """`RunStore` on SQLAlchemy Core (the PostgreSQL store's). Log paths under `home`'s
    logs are kept relative to it and handed out absolute (`store.logs.stored_path`), as
    on SQLite: a data dir moved with its logs keeps them. `read`, when given, serves the
    reads made of independent statements; `snapshot` a read that needs one (`get_run`)."""

    def __init__(
        self,
        transaction: Transaction,
        where: str,
        lock: Lock,
        home: Path,
        read: Transaction | None = None,
        snapshot: Transaction | None = None,
    ) -> None:
        self._tx = transaction
        self._read = read or transaction
        self._snapshot = snapshot or transaction
        self._where = where
        self._lock = lock
        self._home = home

    def create_run(self, new: NewRun, jobs: Iterable[NewJob], log_root: str) -> tuple[int, int]:
        now = time.time()
        with self._tx() as conn:
            if self._lock is not None:
                self._lock(conn, f"stageline.run-number:{new.repo_path}")
            number = int(
                conn.execute(
                    select(func.coalesce(func.max(_runs.c.number), 0) + 1).where(
                        _runs.c.repo_path == new.repo_path
                    )
                ).scalar_one()
            )
            run_id = int(
                conn.execute(
                    insert(_runs).values(_plain(run_row(new, number, now))).returning(_runs.c.id)
                ).scalar_one()
            )
            log_dir = stored_path(self._home, os.path.join(log_root, str(run_id)))
            conn.execute(update(_runs).where(_runs.c.id == run_id).values(log_dir=log_dir))
            rows = [_plain(job_row(run_id, i, job, now)) for i, job in enumerate(jobs)]
            if rows:
                conn.execute(insert(_jobs), rows)
            conn.execute(insert(_events).values(event_row(run_id, "run.queued", None, None)))
        return run_id, number

    def recorder(
        self, run_id: int, schedule: Callable[[Callable[[], None]], Any] | None = None
    ) -> CoreRecorder:
        return CoreRecorder(self._tx, run_id, schedule, self._home)

    def heartbeat(self, run_id: int) -> Controls:
        with self._tx() as conn:
            conn.execute(update(_runs).where(_runs.c.id == run_id).values(heartbeat_at=time.time()))
            cancel = conn.execute(
                select(_runs.c.cancel_requested).where(_runs.c.id == run_id)
            ).scalar()
            rows = conn.execute(
                select(_jobs.c.key, _jobs.c.cancel_requested).where(
                    _jobs.c.run_id == run_id,
                    _jobs.c.cancel_requested.is_not(None),
                    _jobs.c.status != _COMPLETED,
                )
            ).all()
        return Controls(cancel, {key: reason for key, reason in rows})

    def request_job_cancel(self, job_pk: int, reason: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(_jobs)
                .where(_jobs.c.id == job_pk, _jobs.c.status != _COMPLETED)
                .values(cancel_requested=reason)
            )

    def request_cancel(self, run_id: int, reason: str) -> bool:
        with self._tx() as conn:
            changed = conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id, _runs.c.status.in_(_ACTIVE))
                .values(cancel_requested=reason)
            ).rowcount
            if changed:
                data = {"reason": reason}
                conn.execute(
                    insert(_events).values(event_row(run_id, "run.cancel_requested", None, data))
                )
        return bool(changed)

    def active_runs_in_group(self, group: str) -> list[GroupMember]:
        with self._tx() as conn:
            rows = conn.execute(
                select(_runs.c.id, _runs.c.number, _runs.c.status)
                .where(_runs.c.concurrency_group == group, _runs.c.status.in_(_ACTIVE))
                .order_by(_runs.c.id)
            ).all()
        return [GroupMember(run_id, number, None, status) for run_id, number, status in rows]

    def active_jobs_in_group(self, group: str) -> list[GroupMember]:
        statuses = (Status.PENDING.value, Status.IN_PROGRESS.value, Status.WAITING.value)
        with self._tx() as conn:
            rows = conn.execute(
                select(_jobs.c.id, _jobs.c.run_id, _runs.c.number, _jobs.c.status)
                .join(_runs, _runs.c.id == _jobs.c.run_id)
                .where(_jobs.c.concurrency_group == group, _jobs.c.status.in_(statuses))
                .order_by(_jobs.c.id)
            ).all()
        return [GroupMember(run_id, number, pk, status) for pk, run_id, number, status in rows]

    def job_pk(self, run_id: int, key: str) -> int:
        with self._tx() as conn:
            pk = conn.execute(
                select(_jobs.c.id).where(_jobs.c.run_id == run_id, _jobs.c.key == key)
            ).scalar()
        if pk is None:
            raise LookupError(f"no job {key!r} in run {run_id}")
        return int(pk)

    def finish_orphan(self, run_id: int, reason: str, conclusion: Conclusion) -> None:
        at = time.time()
        cancelled = Conclusion.CANCELLED.value
        done = {"status": _COMPLETED, "finished_at": at}
        with self._tx() as conn:
            conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id, _runs.c.status.in_(_ACTIVE))
                .values(**done, conclusion=str(conclusion), reason=reason, waiting_for=None)
            )
            conn.execute(
                update(_jobs)
                .where(_jobs.c.run_id == run_id, _jobs.c.status != _COMPLETED)
                .values(**done, conclusion=cancelled, reason=reason, waiting_for=None)
            )
            conn.execute(
                update(_steps)
                .where(_steps.c.run_id == run_id, _steps.c.status != _COMPLETED)
                .values(**done, outcome=cancelled, conclusion=cancelled)
            )
            mine = _deployments.c.run_id == run_id
            conn.execute(  # a deploy it left: the environment's state is now unknown
                update(_deployments)
                .where(mine, _deployments.c.kind == "deploy")
                .where(_deployments.c.status == "in_progress")
                .values(status="failure", reason=liveness.interrupted(reason), finished_at=at)
            )
            conn.execute(
                update(_deployments)
                .where(mine, _deployments.c.status == "queued")
                .values(
                    status="failure",
                    reason=f"cancelled before it started: {reason}",
                    finished_at=at,
                )
            )
            data = {"reason": reason, "conclusion": str(conclusion)}
            conn.execute(insert(_events).values(event_row(run_id, "run.orphaned", None, data)))

    def reap_orphans(self, *, now: float | None = None) -> list[int]:
        with self._tx() as conn:
            active = _rows(
                RunRecord, conn.execute(select(_runs).where(_runs.c.status.in_(_ACTIVE)))
            )
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
        c = _runs.c
        stmt = select(_runs).order_by(c.id.desc()).limit(limit)
        if repo_path is not None:
            stmt = stmt.where(c.repo_path == repo_path)
        if before is not None:
            stmt = stmt.where(c.id < before)
        if status is not None:
            ended = and_(c.status == "completed", c.conclusion == status)
            stmt = stmt.where(or_(c.status == status, ended))
        if branch is not None:
            stmt = stmt.where(c.ref == f"refs/heads/{branch}")
        if workflow is not None:
            stmt = stmt.where(or_(c.workflow == workflow, c.workflow_path == workflow))
        with self._read() as conn:
            return [self._resolved(run) for run in _rows(RunRecord, conn.execute(stmt))]

    def _resolved(self, run: RunRecord) -> RunRecord:
        """`run` with its log directory absolute (kept relative to the store's home)."""
        log_dir = resolved_path(self._home, run.log_dir)
        return run if log_dir == run.log_dir else replace(run, log_dir=log_dir or "")

    def get_run(self, run_id: int) -> RunDetail:
        with self._snapshot() as conn:
            run = _one(RunRecord, conn.execute(select(_runs).where(_runs.c.id == run_id)).first())
            if run is None:
                raise no_run(self._where, run_id)
            steps: dict[str, list[StepRecord]] = {}
            for row in conn.execute(
                select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.number)
            ):
                [step] = _rows(StepRecord, [row])
                if step.log_path and step.log_path.startswith(f"{LOGS}/"):
                    step = replace(step, log_path=resolved_path(self._home, step.log_path))
                steps.setdefault(row.job_key, []).append(step)
            names = [f.name for f in fields(JobRecord) if f.name != "steps"]
            jobs = [
                JobRecord(**{n: getattr(row, n) for n in names}, steps=steps.get(row.key, []))
                for row in conn.execute(
                    select(_jobs)
                    .where(_jobs.c.run_id == run_id)
                    .order_by(_jobs.c.position, _jobs.c.id)
                )
            ]
            notes = conn.execute(
                select(_notes).where(_notes.c.run_id == run_id).order_by(_notes.c.id)
            )
            annotations = _rows(AnnotationRecord, notes)
            kept = conn.execute(
                select(_artifacts).where(_artifacts.c.run_id == run_id).order_by(_artifacts.c.id)
            )
            artifacts = _rows(ArtifactRecord, kept)
        return RunDetail(self._resolved(run), jobs, annotations, artifacts)

    def run_events(self, run_id: int, *, after: int = 0) -> list[EventRecord]:
        with self._read() as conn:
            return _rows(
                EventRecord,
                conn.execute(
                    select(_events)
                    .where(_events.c.run_id == run_id, _events.c.id > after)
                    .order_by(_events.c.id)
                ),
            )

    def run_state(self, run_id: int) -> tuple[str, str | None]:
        with self._read() as conn:
            row = conn.execute(
                select(_runs.c.status, _runs.c.conclusion).where(_runs.c.id == run_id)
            ).first()
        if row is None:
            raise no_run(self._where, run_id, hint=None)
        return row.status, row.conclusion

    def find_run(self, run: int, repo_path: str | None = None) -> RunInfo | None:
        cols = [_runs.c[f.name] for f in fields(RunInfo)]
        with self._read() as conn:
            row = None
            if repo_path is not None:
                row = conn.execute(
                    select(*cols).where(_runs.c.repo_path == repo_path, _runs.c.number == run)
                ).first()
            if row is None:
                row = conn.execute(select(*cols).where(_runs.c.id == run)).first()
        return _one(RunInfo, row)

    def run_alive(self, run_id: int) -> bool:
        with self._read() as conn:
            run = conn.execute(
                select(_runs.c.status, _runs.c.pid, _runs.c.host, _runs.c.heartbeat_at).where(
                    _runs.c.id == run_id
                )
            ).first()
        return run is not None and liveness.run_alive(*run)

    def reset_unfinished(self, run_id: int, keep: set[str], planned: set[str]) -> None:
        with self._tx() as conn:
            keys = conn.execute(select(_jobs.c.key).where(_jobs.c.run_id == run_id)).scalars()
            redo = [k for k in keys if k not in keep or k not in planned]
            if not redo:
                return
            for table in (_steps, _notes):
                conn.execute(
                    delete(table).where(table.c.run_id == run_id, table.c.job_key.in_(redo))
                )
            gone = [k for k in redo if k not in planned]
            if gone:
                conn.execute(delete(_jobs).where(_jobs.c.run_id == run_id, _jobs.c.key.in_(gone)))
            conn.execute(
                update(_jobs)
                .where(_jobs.c.run_id == run_id, _jobs.c.key.in_(redo))
                .where(_jobs.c.status == _COMPLETED)
                .values(
                    status=Status.QUEUED.value,
                    conclusion=None,
                    reason=None,
                    started_at=None,
                    finished_at=None,
                    waiting_for=None,
                    cancel_requested=None,
                )
            )

    def mark_run_resumed(self, run_id: int, attempt: int, *, reopen: bool = False) -> bool:
        now = time.time()
        reopened: dict[str, Any] = {}
        if reopen:
            reopened = {
                "status": Status.IN_PROGRESS.value,
                "conclusion": None,
                "finished_at": None,
                "reason": None,
                "waiting_for": None,
            }
        with self._tx() as conn:
            taken = conn.execute(
                update(_runs)
                .where(_runs.c.id == run_id, _runs.c.attempt == attempt - 1)
                .values(
                    pid=os.getpid(),
                    host=liveness.HOST,
                    heartbeat_at=now,
                    cancel_requested=None,
                    attempt=attempt,
                    **reopened,
                )
            )
            if taken.rowcount != 1:
                return False
            conn.execute(insert(_events).values(event_row(run_id, "run.resumed", None, None)))
        return True


class CoreRecorder:
    """`Recorder` on Core: one compiled statement per table and column set, consecutive
    identical statements written as one executemany."""

    def __init__(
        self,
        transaction: Transaction,
        run_id: int,
        schedule: Callable[[Callable[[], None]], Any] | None,
        home: Path,
    ) -> None:
        self._tx = transaction
        self.run_id = run_id
        self._schedule = schedule
        self._home = home
        self._pending: list[tuple[Insert | Update | Delete, dict[str, Any]]] = []
        self._stmts: dict[tuple[str, tuple[str, ...]], Insert | Update] = {}
        self._positions = 10_000

    def _queue(self, stmt: Insert | Update | Delete, params: dict[str, Any]) -> None:
        if not self._pending and self._schedule is not None:
            self._schedule(self.flush)
        self._pending.append((stmt, params))

    def _update(self, table: Table, values: dict[str, Any], **where: Any) -> None:
        cols = tuple(values)
        stmt = self._stmts.get((table.name, cols))
        if stmt is None:
            cond = [table.c[k] == bindparam(f"w_{k}") for k in where]
            sets = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in cols}
            stmt = self._stmts[(table.name, cols)] = update(table).where(*cond).values(sets)
        params = {f"v_{c}": v for c, v in _plain(values).items()}
        params.update({f"w_{k}": v for k, v in where.items()})
        self._queue(stmt, params)

    def _insert(self, table: Table, values: dict[str, Any]) -> None:
        cols = tuple(values)
        stmt = self._stmts.get((f"+{table.name}", cols))
        if stmt is None:
            stmt = self._stmts[(f"+{table.name}", cols)] = insert(table)
        self._queue(stmt, _plain(values))

    def run(self, **values: Any) -> None:
        self._update(_runs, values, id=self.run_id)

    def job(self, key: str, **values: Any) -> None:
        self._update(_jobs, values, run_id=self.run_id, key=key)

    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None:
        now = time.time()
        if replacing is not None:
            stmt = delete(_jobs).where(_jobs.c.run_id == self.run_id, _jobs.c.key == replacing)
            self._queue(stmt, {})
        for job in jobs:
            self._positions += 1
            self._insert(_jobs, job_row(self.run_id, self._positions, job, now))

    def clear_steps(self, job_key: str) -> None:
        stmt = delete(_steps).where(_steps.c.run_id == self.run_id, _steps.c.job_key == job_key)
        self._queue(stmt, {})

    def step_started(
        self, job_key: str, number: int, name: str, at: float, log_path: str | None = None
    ) -> None:
        log_path = stored_path(self._home, log_path)
        self._insert(_steps, step_row(self.run_id, job_key, number, name, at, log_path))

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None:
        values["status"] = Status.COMPLETED
        if values.get("log_path"):
            values["log_path"] = stored_path(self._home, values["log_path"])
        if started:
            self._update(_steps, values, run_id=self.run_id, job_key=job_key, number=number)
        else:
            row = {"run_id": self.run_id, "job_key": job_key, "number": number, "outputs": {}}
            row.update(values)
            self._insert(_steps, row)

    def annotation(self, job_key: str, **values: Any) -> None:
        self._insert(_notes, {"run_id": self.run_id, "job_key": job_key, **values})

    def artifact(self, job_key: str, **values: Any) -> None:
        values.setdefault("created_at", time.time())
        self._insert(_artifacts, {"run_id": self.run_id, "job_key": job_key, **values})

    def event(
        self, kind: str, job_key: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self._insert(_events, event_row(self.run_id, kind, job_key, data))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            with self._tx() as conn:
                for stmt, params in _grouped(pending):
                    conn.execute(stmt, params)
        except BaseException:
            self._pending = pending + self._pending  # kept for the next attempt
            raise


def _grouped(
    pending: list[tuple[Insert | Update | Delete, dict[str, Any]]],
) -> Iterator[tuple[Insert | Update | Delete, list[dict[str, Any]]]]:
    """Consecutive runs of one statement with the same parameter names, as executemany."""
    i = 0
    while i < len(pending):
        stmt, first = pending[i]
        j = i + 1
        while j < len(pending) and pending[j][0] is stmt and pending[j][1].keys() == first.keys():
            j += 1
        yield stmt, [p for _, p in pending[i:j]]
        i = j


# -- deployments, gates, decisions, rollbacks ----------------------------------------------


class SqlDeploymentStore:
    """`DeploymentStore` on Core, for both backends (see the module doc for `lock`)."""

    def __init__(self, transaction: Transaction, lock: Lock) -> None:
        self._tx = transaction
        self._lock = lock

    def _insert(self, table: Table, values: dict[str, Any]) -> int:
        with self._tx() as conn:
            return int(
                conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()
            )

    def _update(self, table: Table, row_id: int, values: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(update(table).where(table.c.id == row_id).values(values))

    def _get(self, table: Table, cls: type[T], row_id: int) -> T | None:
        with self._tx() as conn:
            return _one(cls, conn.execute(select(table).where(table.c.id == row_id)).first())

    def _listed(
        self, table: Table, cls: type[T], repo_path: str | None, environment: str | None
    ) -> list[T]:
        stmt = select(table).order_by(table.c.id)
        if repo_path is not None:
            stmt = stmt.where(table.c.repo_path == repo_path)
        if environment is not None:
            stmt = stmt.where(table.c.environment == environment)
        with self._tx() as conn:
            return _rows(cls, conn.execute(stmt))

    def create_deployment(self, **values: Any) -> int:
        values.setdefault("status", "queued")
        values.setdefault("created_at", time.time())
        values.setdefault("approved_by", [])
        values.setdefault("contexts", {})
        values.setdefault("kind", "deploy")
        return self._insert(_deployments, values)

    def update_deployment(self, deployment_id: int, **values: Any) -> None:
        self._update(_deployments, deployment_id, values)

    def finish_deployment(self, deployment_id: int, status: str, reason: str | None) -> None:
        """A success makes the environment's older successes inactive."""
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                update(_deployments)
                .where(_deployments.c.id == deployment_id)
                .values(status=status, reason=reason, finished_at=now)
            )
            if status != "success":
                return
            row = conn.execute(
                select(_deployments.c.repo_path, _deployments.c.environment).where(
                    _deployments.c.id == deployment_id
                )
            ).one()
            conn.execute(
                update(_deployments)
                .where(
                    _deployments.c.repo_path == row.repo_path,
                    _deployments.c.environment == row.environment,
                    _deployments.c.status == "success",
                    _deployments.c.id != deployment_id,
                )
                .values(status="inactive")
            )

    def get_deployment(self, deployment_id: int) -> DeploymentRow | None:
        return self._get(_deployments, DeploymentRow, deployment_id)

    def list_deployments(
        self, repo_path: str | None = None, environment: str | None = None
    ) -> list[DeploymentRow]:
        return self._listed(_deployments, DeploymentRow, repo_path, environment)

    def deployment_of_job(self, run_id: int, job_key: str) -> DeploymentRow | None:
        """The newest deploy record a run's job made (a resumed job reuses it)."""
        with self._tx() as conn:
            row = conn.execute(
                select(_deployments)
                .where(
                    _deployments.c.run_id == run_id,
                    _deployments.c.job_key == job_key,
                    _deployments.c.kind == "deploy",
                )
                .order_by(_deployments.c.id.desc())
            ).first()
        return _one(DeploymentRow, row)

    def last_good(
        self, repo_path: str, environment: str, *, before: int | None = None
    ) -> DeploymentRow | None:
        """The newest deployment that reached `environment` (before id `before`, if given)."""
        stmt = (
            select(_deployments)
            .where(
                _deployments.c.repo_path == repo_path,
                _deployments.c.environment == environment,
                _deployments.c.status.in_(SUCCEEDED),
            )
            .order_by(_deployments.c.id.desc())
        )
        if before is not None:
            stmt = stmt.where(_deployments.c.id < before)
        with self._tx() as conn:
            return _one(DeploymentRow, conn.execute(stmt).first())

    def claim_environment(self, deployment_id: int) -> DeploymentRow | None:
        """Start the deployment unless an earlier live one is unfinished (returned).

        A deployment is live while its run (or its rollback's process) is alive: a run
        killed mid-deploy does not hold the environment forever. The check and the
        switch to ``in_progress`` are one transaction under the environment's lock.
        """
        now = time.time()
        with self._tx() as conn:
            mine = conn.execute(
                select(_deployments).where(_deployments.c.id == deployment_id)
            ).one()
            if self._lock is not None:
                self._lock(conn, f"stageline.environment:{mine.repo_path}:{mine.environment}")
            others = conn.execute(
                select(_deployments)
                .where(
                    _deployments.c.repo_path == mine.repo_path,
                    _deployments.c.environment == mine.environment,
                    _deployments.c.status.in_(UNFINISHED),
                    _deployments.c.id != deployment_id,
                    or_(_deployments.c.status == "in_progress", _deployments.c.id < deployment_id),
                )
                .order_by(_deployments.c.id)
            ).all()
            for other in others:
                if _holder_alive(conn, other, now):
                    return _one(DeploymentRow, other)
            conn.execute(
                update(_deployments)
                .where(_deployments.c.id == deployment_id)
                .values(status="in_progress", started_at=now)
            )
        return None

    def open_gate(
        self,
        run_id: int,
        environment: str,
        kind: str = "approval",
        deployment_id: int = 0,
        actor: str = "",
    ) -> tuple[GateRow, bool]:
        """The run's gate (created pending if new); True when it was just created."""
        key = and_(
            _gates.c.run_id == run_id,
            _gates.c.environment == environment,
            _gates.c.kind == kind,
            _gates.c.deployment_id == deployment_id,
        )
        with self._tx() as conn:
            if self._lock is not None:
                self._lock(conn, f"stageline.gate:{run_id}:{environment}:{kind}:{deployment_id}")
            row = conn.execute(select(_gates).where(key)).first()
            created = row is None
            if created:
                conn.execute(
                    insert(_gates).values(
                        run_id=run_id,
                        environment=environment,
                        kind=kind,
                        deployment_id=deployment_id,
                        status="pending",
                        actor=actor,
                        decided_by=[],
                        requested_at=time.time(),
                        reminders_sent=0,
                    )
                )
                row = conn.execute(select(_gates).where(key)).one()
        gate = _one(GateRow, row)
        assert gate is not None
        return gate, created

    def update_gate(self, gate_id: int, **values: Any) -> None:
        self._update(_gates, gate_id, values)

    def get_gate(self, gate_id: int) -> GateRow | None:
        return self._get(_gates, GateRow, gate_id)

    def gates_of_run(self, run_id: int, status: str | None = None) -> list[GateRow]:
        stmt = select(_gates).where(_gates.c.run_id == run_id).order_by(_gates.c.id)
        if status is not None:
            stmt = stmt.where(_gates.c.status == status)
        with self._tx() as conn:
            return _rows(GateRow, conn.execute(stmt))

    def pending_pauses(self, environment: str) -> list[GateRow]:
        """Paused bake windows of `environment`, oldest first."""
        stmt = (
            select(_gates)
            .where(
                _gates.c.environment == environment,
                _gates.c.kind == "pause",
                _gates.c.status == "pending",
            )
            .order_by(_gates.c.id)
        )
        with self._tx() as conn:
            return _rows(GateRow, conn.execute(stmt))

    def record_decision(
        self,
        run_id: int,
        gate_id: int | None,
        reviewer: str,
        verdict: str,
        *,
        comment: str | None = None,
        source_job: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        values = {
            "run_id": run_id,
            "gate_id": gate_id,
            "reviewer": reviewer,
            "verdict": verdict,
            "comment": comment,
            "at": time.time(),
            "source_job": source_job,
            "data": data or {},
        }
        return self._insert(_decisions, values)

    def decisions(self, gate_id: int, *, after: int = 0) -> list[DecisionRow]:
        """Decisions on a gate, oldest first (`after` a decision id, to poll cheaply)."""
        stmt = (
            select(_decisions)
            .where(_decisions.c.gate_id == gate_id, _decisions.c.id > after)
            .order_by(_decisions.c.id)
        )
        with self._tx() as conn:
            return _rows(DecisionRow, conn.execute(stmt))

    def auto_approvals(self, run_id: int) -> list[DecisionRow]:
        """Approvals a run's own steps gave (`hmarr/auto-approve-action`), oldest first."""
        stmt = (
            select(_decisions)
            .where(_decisions.c.run_id == run_id, _decisions.c.gate_id.is_(None))
            .order_by(_decisions.c.id)
        )
        with self._tx() as conn:
            return _rows(DecisionRow, conn.execute(stmt))

    def create_rollback(self, **values: Any) -> int:
        values.setdefault("status", "in_progress")
        values.setdefault("started_at", time.time())
        values.setdefault("pid", os.getpid())
        values.setdefault("host", liveness.HOST)
        return self._insert(_rollbacks, values)

    def update_rollback(self, rollback_id: int, **values: Any) -> None:
        self._update(_rollbacks, rollback_id, values)

    def get_rollback(self, rollback_id: int) -> RollbackRow | None:
        return self._get(_rollbacks, RollbackRow, rollback_id)

    def list_rollbacks(
        self, repo_path: str | None = None, environment: str | None = None
    ) -> list[RollbackRow]:
        return self._listed(_rollbacks, RollbackRow, repo_path, environment)

    def interrupted_rollbacks(
        self,
        *,
        run_id: int | None = None,
        job_key: str | None = None,
        repo_path: str | None = None,
        environment: str | None = None,
    ) -> list[RollbackRow]:
        """Rollbacks still ``in_progress`` whose process is gone (to be completed)."""
        stmt = (
            select(_rollbacks).where(_rollbacks.c.status == "in_progress").order_by(_rollbacks.c.id)
        )
        for column, value in (
            ("run_id", run_id),
            ("job_key", job_key),
            ("repo_path", repo_path),
            ("environment", environment),
        ):
            if value is not None:
                stmt = stmt.where(_rollbacks.c[column] == value)
        with self._tx() as conn:
            rows = _rows(RollbackRow, conn.execute(stmt))
        return [
            r
            for r in rows
            if r.pid != os.getpid() and liveness.gone_reason(r.pid, r.host, None) is not None
        ]

    def record_event(
        self, run_id: int, kind: str, data: dict[str, Any], job_key: str | None = None
    ) -> None:
        """Append to a run's event log (what `stageline show` and the web UI replay)."""
        with self._tx() as conn:
            conn.execute(insert(_events).values(event_row(run_id, kind, job_key, data)))


def _holder_alive(conn: Connection, row: Any, now: float) -> bool:
    """Whether the run (or rollback process) behind deployment `row` is still there."""
    if row.run_id is not None:
        run = conn.execute(
            select(_runs.c.status, _runs.c.pid, _runs.c.host, _runs.c.heartbeat_at).where(
                _runs.c.id == row.run_id
            )
        ).first()
        return run is not None and liveness.run_alive(*run, now=now)
    holder = conn.execute(
        select(_rollbacks.c.pid, _rollbacks.c.host).where(
            _rollbacks.c.deployment_id == row.id, _rollbacks.c.status == "in_progress"
        )
    ).first()
    return holder is not None and liveness.gone_reason(holder.pid, holder.host, None, now) is None
