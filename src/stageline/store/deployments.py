"""Reading and writing deployments, gates, gate decisions and rollbacks.

Plain dataclasses out (`DeploymentRow`, `GateRow`, `DecisionRow`, `RollbackRow`); the
ORM classes of `store.deploy_models` stay here. Every call is one short transaction,
so another process (`stageline approve`, `rollback`, a second run deploying to the
same environment) sees it at once.

The environment lock (`claim_environment`) is the one place two processes race: the
check for an earlier live deployment and the switch to ``in_progress`` happen in one
``BEGIN IMMEDIATE`` transaction, so two deploys to an environment never overlap.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Table, and_, insert, or_, select, update

from stageline.runs.states import ACTIVE_STATUSES
from stageline.store.db import Store
from stageline.store.deploy_models import Deployment, Gate, GateDecision, Rollback
from stageline.store.models import EventRow, Run
from stageline.store.queries import pid_alive
from stageline.store.runs import HOST

_deployments: Table = Deployment.__table__  # type: ignore[assignment]
_gates: Table = Gate.__table__  # type: ignore[assignment]
_decisions: Table = GateDecision.__table__  # type: ignore[assignment]
_rollbacks: Table = Rollback.__table__  # type: ignore[assignment]
_runs: Table = Run.__table__  # type: ignore[assignment]
_events: Table = EventRow.__table__  # type: ignore[assignment]

T = TypeVar("T")

#: A run or rollback silent for longer than this is taken for dead (as `store.queries`).
STALE_AFTER_S = 60.0

UNFINISHED = ("queued", "in_progress")
SUCCEEDED = ("success", "inactive")


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    id: int
    repo_path: str
    environment: str
    kind: str
    run_id: int | None
    job_key: str
    sha: str
    ref: str
    commit_time: datetime | None
    triggered_by: str
    approved_by: list[str]
    status: str
    url: str | None
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    replaces: int | None
    restores: int | None
    contexts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GateRow:
    id: int
    run_id: int
    environment: str
    kind: str
    deployment_id: int
    status: str
    actor: str
    reason: str | None
    decided_by: list[str]
    requested_at: datetime
    decided_at: datetime | None
    reminders_sent: int


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: int
    run_id: int
    gate_id: int | None
    reviewer: str
    verdict: str
    comment: str | None
    at: datetime
    source_job: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RollbackRow:
    id: int
    repo_path: str
    environment: str
    run_id: int | None
    job_key: str
    replaces: int | None
    restores: int | None
    deployment_id: int | None
    method: str
    trigger: str
    requested_by: str
    status: str
    reason: str | None
    pid: int | None
    host: str | None
    started_at: datetime
    finished_at: datetime | None


def _rows(cls: type[T], rows: Any) -> list[T]:
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return [cls(**{n: getattr(r, n) for n in names}) for r in rows]


def _one(cls: type[T], row: Row[Any] | None) -> T | None:
    return None if row is None else _rows(cls, [row])[0]


def _insert(store: Store, table: Table, values: dict[str, Any]) -> int:
    with store.transaction() as conn:
        key = conn.execute(insert(table).values(**values)).inserted_primary_key
        return int(key[0])  # type: ignore[index]


def _update(store: Store, table: Table, row_id: int, values: dict[str, Any]) -> None:
    with store.transaction() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(values))


def _get(store: Store, table: Table, cls: type[T], row_id: int) -> T | None:
    with store.transaction() as conn:
        return _one(cls, conn.execute(select(table).where(table.c.id == row_id)).first())


def _listed(
    store: Store, table: Table, cls: type[T], repo_path: str | None, environment: str | None
) -> list[T]:
    """Rows of `table` (of one repository and environment when given), oldest first."""
    stmt = select(table).order_by(table.c.id)
    if repo_path is not None:
        stmt = stmt.where(table.c.repo_path == repo_path)
    if environment is not None:
        stmt = stmt.where(table.c.environment == environment)
    with store.transaction() as conn:
        return _rows(cls, conn.execute(stmt))


# -- deployments ---------------------------------------------------------------------------


def create_deployment(store: Store, **values: Any) -> int:
    """A new deployment row (status defaults to ``queued``); returns its id."""
    values.setdefault("status", "queued")
    values.setdefault("created_at", time.time())
    values.setdefault("approved_by", [])
    values.setdefault("contexts", {})
    values.setdefault("kind", "deploy")
    return _insert(store, _deployments, values)


def update_deployment(store: Store, deployment_id: int, **values: Any) -> None:
    _update(store, _deployments, deployment_id, values)


def finish_deployment(store: Store, deployment_id: int, status: str, reason: str | None) -> None:
    """Complete a deployment; a success makes the environment's older successes inactive."""
    now = time.time()
    with store.transaction() as conn:
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
                and_(
                    _deployments.c.repo_path == row.repo_path,
                    _deployments.c.environment == row.environment,
                    _deployments.c.status == "success",
                    _deployments.c.id != deployment_id,
                )
            )
            .values(status="inactive")
        )


def get_deployment(store: Store, deployment_id: int) -> DeploymentRow | None:
    return _get(store, _deployments, DeploymentRow, deployment_id)


def list_deployments(
    store: Store, repo_path: str | None = None, environment: str | None = None
) -> list[DeploymentRow]:
    """Deployments (of one repository and environment when given), oldest first."""
    return _listed(store, _deployments, DeploymentRow, repo_path, environment)


def deployment_of_job(store: Store, run_id: int, job_key: str) -> DeploymentRow | None:
    """The newest deploy record a run's job made (a resumed job reuses it)."""
    with store.transaction() as conn:
        row = conn.execute(
            select(_deployments)
            .where(
                and_(
                    _deployments.c.run_id == run_id,
                    _deployments.c.job_key == job_key,
                    _deployments.c.kind == "deploy",
                )
            )
            .order_by(_deployments.c.id.desc())
        ).first()
    return _one(DeploymentRow, row)


def last_good(
    store: Store, repo_path: str, environment: str, *, before: int | None = None
) -> DeploymentRow | None:
    """The newest deployment of `environment` that reached it successfully (before the
    deployment id `before`, when given)."""
    stmt = (
        select(_deployments)
        .where(
            and_(
                _deployments.c.repo_path == repo_path,
                _deployments.c.environment == environment,
                _deployments.c.status.in_(SUCCEEDED),
            )
        )
        .order_by(_deployments.c.id.desc())
    )
    if before is not None:
        stmt = stmt.where(_deployments.c.id < before)
    with store.transaction() as conn:
        return _one(DeploymentRow, conn.execute(stmt).first())


def claim_environment(store: Store, deployment_id: int) -> DeploymentRow | None:
    """Start deployment `deployment_id` if no earlier live deployment of its environment
    is unfinished; returns the one it must wait for, or None once it is ``in_progress``.

    A deployment is live while its run (or its rollback's process) is alive: a run
    killed mid-deploy does not hold the environment forever.
    """
    now = time.time()
    with store.transaction() as conn:
        mine = conn.execute(select(_deployments).where(_deployments.c.id == deployment_id)).one()
        others = conn.execute(
            select(_deployments)
            .where(
                and_(
                    _deployments.c.repo_path == mine.repo_path,
                    _deployments.c.environment == mine.environment,
                    _deployments.c.status.in_(UNFINISHED),
                    _deployments.c.id != deployment_id,
                    or_(_deployments.c.status == "in_progress", _deployments.c.id < deployment_id),
                )
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


def _holder_alive(conn: Any, row: Any, now: float) -> bool:
    if row.run_id is not None:
        run = conn.execute(
            select(_runs.c.status, _runs.c.pid, _runs.c.host, _runs.c.heartbeat_at).where(
                _runs.c.id == row.run_id
            )
        ).first()
        return run is not None and run.status in ACTIVE_STATUSES and _alive(run, now)
    holder = conn.execute(
        select(_rollbacks.c.pid, _rollbacks.c.host, _rollbacks.c.started_at).where(
            and_(_rollbacks.c.deployment_id == row.id, _rollbacks.c.status == "in_progress")
        )
    ).first()
    return holder is not None and _process_alive(holder.pid, holder.host)


def _alive(run: Any, now: float) -> bool:
    if run.host == HOST and run.pid is not None:
        return _process_alive(run.pid, run.host)
    beat = run.heartbeat_at
    return beat is not None and now - beat.timestamp() < STALE_AFTER_S


def _process_alive(pid: int | None, host: str | None) -> bool:
    if pid is None or host != HOST:
        return host is not None and host != HOST  # another machine: assume alive
    return pid_alive(pid)


def run_alive(store: Store, run_id: int) -> bool:
    """Whether the process running `run_id` is still there (and the run not finished)."""
    with store.transaction() as conn:
        run = conn.execute(
            select(_runs.c.status, _runs.c.pid, _runs.c.host, _runs.c.heartbeat_at).where(
                _runs.c.id == run_id
            )
        ).first()
    return run is not None and run.status in ACTIVE_STATUSES and _alive(run, time.time())


# -- gates and decisions -------------------------------------------------------------------


def open_gate(
    store: Store,
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
    with store.transaction() as conn:
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


def update_gate(store: Store, gate_id: int, **values: Any) -> None:
    _update(store, _gates, gate_id, values)


def get_gate(store: Store, gate_id: int) -> GateRow | None:
    return _get(store, _gates, GateRow, gate_id)


def gates_of_run(store: Store, run_id: int, status: str | None = None) -> list[GateRow]:
    stmt = select(_gates).where(_gates.c.run_id == run_id).order_by(_gates.c.id)
    if status is not None:
        stmt = stmt.where(_gates.c.status == status)
    with store.transaction() as conn:
        return _rows(GateRow, conn.execute(stmt))


def pending_pauses(store: Store, environment: str) -> list[GateRow]:
    """Paused bake windows of `environment`, oldest first."""
    with store.transaction() as conn:
        return _rows(
            GateRow,
            conn.execute(
                select(_gates)
                .where(
                    and_(
                        _gates.c.environment == environment,
                        _gates.c.kind == "pause",
                        _gates.c.status == "pending",
                    )
                )
                .order_by(_gates.c.id)
            ),
        )


def record_decision(
    store: Store,
    run_id: int,
    gate_id: int | None,
    reviewer: str,
    verdict: str,
    *,
    comment: str | None = None,
    source_job: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    with store.transaction() as conn:
        return int(
            conn.execute(
                insert(_decisions).values(
                    run_id=run_id,
                    gate_id=gate_id,
                    reviewer=reviewer,
                    verdict=verdict,
                    comment=comment,
                    at=time.time(),
                    source_job=source_job,
                    data=data or {},
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def decisions(store: Store, gate_id: int, *, after: int = 0) -> list[DecisionRow]:
    """Decisions on a gate, oldest first (`after` a decision id, to poll cheaply)."""
    with store.transaction() as conn:
        return _rows(
            DecisionRow,
            conn.execute(
                select(_decisions)
                .where(and_(_decisions.c.gate_id == gate_id, _decisions.c.id > after))
                .order_by(_decisions.c.id)
            ),
        )


def auto_approvals(store: Store, run_id: int) -> list[DecisionRow]:
    """Approvals a run's own steps gave (`hmarr/auto-approve-action`), oldest first."""
    with store.transaction() as conn:
        return _rows(
            DecisionRow,
            conn.execute(
                select(_decisions)
                .where(and_(_decisions.c.run_id == run_id, _decisions.c.gate_id.is_(None)))
                .order_by(_decisions.c.id)
            ),
        )


# -- rollbacks -----------------------------------------------------------------------------


def create_rollback(store: Store, **values: Any) -> int:
    values.setdefault("status", "in_progress")
    values.setdefault("started_at", time.time())
    values.setdefault("pid", os.getpid())
    values.setdefault("host", HOST)
    return _insert(store, _rollbacks, values)


def update_rollback(store: Store, rollback_id: int, **values: Any) -> None:
    _update(store, _rollbacks, rollback_id, values)


def get_rollback(store: Store, rollback_id: int) -> RollbackRow | None:
    return _get(store, _rollbacks, RollbackRow, rollback_id)


def list_rollbacks(
    store: Store, repo_path: str | None = None, environment: str | None = None
) -> list[RollbackRow]:
    return _listed(store, _rollbacks, RollbackRow, repo_path, environment)


def interrupted_rollbacks(
    store: Store,
    *,
    run_id: int | None = None,
    job_key: str | None = None,
    repo_path: str | None = None,
    environment: str | None = None,
) -> list[RollbackRow]:
    """Rollbacks still ``in_progress`` whose process is gone (to be completed)."""
    stmt = select(_rollbacks).where(_rollbacks.c.status == "in_progress").order_by(_rollbacks.c.id)
    if run_id is not None:
        stmt = stmt.where(_rollbacks.c.run_id == run_id)
    if job_key is not None:
        stmt = stmt.where(_rollbacks.c.job_key == job_key)
    if repo_path is not None:
        stmt = stmt.where(_rollbacks.c.repo_path == repo_path)
    if environment is not None:
        stmt = stmt.where(_rollbacks.c.environment == environment)
    with store.transaction() as conn:
        rows = _rows(RollbackRow, conn.execute(stmt))
    return [r for r in rows if r.pid != os.getpid() and not _process_alive(r.pid, r.host)]


# -- the run's audit trail -----------------------------------------------------------------


def record_event(
    store: Store, run_id: int, kind: str, data: dict[str, Any], job_key: str | None = None
) -> None:
    """Append to a run's event log (what `stageline show` and the web UI replay)."""
    with store.transaction() as conn:
        conn.execute(
            insert(_events).values(
                run_id=run_id, job_key=job_key, kind=kind, data=data, at=time.time()
            )
        )


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    number: int
    repo_path: str
    status: str
    actor: str
    ref: str
    sha: str
    plan: dict[str, Any]
    waiting_for: str | None


def find_run(store: Store, run: int, repo_path: str | None = None) -> RunInfo | None:
    """A run by its number in `repo_path` (what users see as #N), else by id."""
    cols = [_runs.c[f.name] for f in fields(RunInfo)]
    with store.transaction() as conn:
        row = None
        if repo_path is not None:
            row = conn.execute(
                select(*cols).where(and_(_runs.c.repo_path == repo_path, _runs.c.number == run))
            ).first()
        if row is None:
            row = conn.execute(select(*cols).where(_runs.c.id == run)).first()
    return _one(RunInfo, row)


def reset_unfinished(store: Store, run_id: int, keep: set[str], planned: set[str]) -> None:
    """Before a resume: forget what jobs not in `keep` (the completed ones) left behind —
    their steps and annotations (they run again) — and the rows of jobs not in the plan
    (`planned`: a deferred matrix's legs, expanded and run again)."""
    from stageline.store.models import Annotation, Job, Step

    jobs: Table = Job.__table__  # type: ignore[assignment]
    steps: Table = Step.__table__  # type: ignore[assignment]
    notes: Table = Annotation.__table__  # type: ignore[assignment]
    with store.transaction() as conn:
        keys = [r.key for r in conn.execute(select(jobs.c.key).where(jobs.c.run_id == run_id))]
        redo = [k for k in keys if k not in keep or k not in planned]
        if not redo:
            return
        conn.execute(
            steps.delete().where(and_(steps.c.run_id == run_id, steps.c.job_key.in_(redo)))
        )
        conn.execute(
            notes.delete().where(and_(notes.c.run_id == run_id, notes.c.job_key.in_(redo)))
        )
        gone = [k for k in redo if k not in planned]
        if gone:
            conn.execute(jobs.delete().where(and_(jobs.c.run_id == run_id, jobs.c.key.in_(gone))))


def mark_run_resumed(store: Store, run_id: int) -> None:
    """The run belongs to this process now (its pid, a fresh heartbeat, no stale cancel)."""
    now = time.time()
    with store.transaction() as conn:
        conn.execute(
            update(_runs)
            .where(_runs.c.id == run_id)
            .values(pid=os.getpid(), host=HOST, heartbeat_at=now, cancel_requested=None)
        )
        conn.execute(insert(_events).values(run_id=run_id, kind="run.resumed", data={}, at=now))


__all__ = [
    "STALE_AFTER_S",
    "DecisionRow",
    "DeploymentRow",
    "GateRow",
    "RollbackRow",
    "RunInfo",
    "auto_approvals",
    "claim_environment",
    "create_deployment",
    "create_rollback",
    "decisions",
    "deployment_of_job",
    "find_run",
    "finish_deployment",
    "gates_of_run",
    "get_deployment",
    "get_gate",
    "get_rollback",
    "interrupted_rollbacks",
    "last_good",
    "list_deployments",
    "list_rollbacks",
    "mark_run_resumed",
    "open_gate",
    "pending_pauses",
    "record_decision",
    "record_event",
    "reset_unfinished",
    "run_alive",
    "update_deployment",
    "update_gate",
]
