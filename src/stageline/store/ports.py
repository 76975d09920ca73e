"""The store's ports: what the engine, `deploy` and the CLI may ask of a record.

Two implementations meet them: SQLite (`store.sqlite`, the local default, whose run
path is plain `sqlite3` so a short run never loads SQLAlchemy) and PostgreSQL
(`store.postgres`, SQLAlchemy Core over psycopg 3, for a team server). One contract
suite (`tests/store/test_contract.py`) runs on both. Everything crosses as the plain
records of `store.records`; times come back as aware UTC datetimes.

Guarantees every implementation gives:
* each call is its own short transaction, visible to other processes when it returns;
* `RunStore.create_run` numbers runs per repository without gaps or duplicates, and
  `DeploymentStore.claim_environment` lets one deployment of an environment start,
  both under concurrent writers (other processes, other machines);
* a write that cannot be made raises `StoreError` (a one-line message), never a
  driver exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stageline.runs.states import Conclusion
from stageline.store.records import (
    Controls,
    EventRecord,
    GroupMember,
    NewJob,
    NewRun,
    RunDetail,
    RunInfo,
    RunRecord,
)

if TYPE_CHECKING:
    from stageline.store.deploy_records import DecisionRow, DeploymentRow, GateRow, RollbackRow


class Recorder(Protocol):
    """A run's write-through path: calls queue, `flush()` writes them in one transaction.

    When the queue becomes non-empty the recorder hands `flush` to its `schedule`
    callback (the engine passes its loop's `call_soon`), so a burst of transitions
    costs one commit. A failed flush keeps what it could not write for the next one.
    """

    run_id: int

    def run(self, **values: Any) -> None: ...
    def job(self, key: str, **values: Any) -> None: ...
    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None: ...
    def step_started(self, job_key: str, number: int, name: str, at: float) -> None: ...
    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None: ...
    def annotation(self, job_key: str, **values: Any) -> None: ...
    def artifact(self, job_key: str, **values: Any) -> None: ...
    def event(
        self, kind: str, job_key: str | None = None, data: dict[str, Any] | None = None
    ) -> None: ...
    @property
    def pending(self) -> int: ...
    def flush(self) -> None: ...


class RunStore(Protocol):
    """Runs, their jobs, steps and audit trail; cross-process controls; liveness."""

    def create_run(self, new: NewRun, jobs: Iterable[NewJob], log_root: str) -> tuple[int, int]:
        """A queued run and its jobs; `(run_id, number)`, the number next in its repository."""
        ...

    def recorder(
        self, run_id: int, schedule: Callable[[Callable[[], None]], Any] | None = None
    ) -> Recorder: ...

    def heartbeat(self, run_id: int) -> Controls:
        """Refresh the run's heartbeat; what other processes asked of it."""
        ...

    def request_cancel(self, run_id: int, reason: str) -> bool:
        """Ask an active run to stop; False when it is not active."""
        ...

    def request_job_cancel(self, job_pk: int, reason: str) -> None: ...
    def active_runs_in_group(self, group: str) -> list[GroupMember]: ...
    def active_jobs_in_group(self, group: str) -> list[GroupMember]: ...
    def job_pk(self, run_id: int, key: str) -> int: ...
    def finish_orphan(self, run_id: int, reason: str, conclusion: Conclusion) -> None: ...
    def reap_orphans(self, *, now: float | None = None) -> list[int]:
        """Complete every active run whose process is gone (`store.liveness`); their ids."""
        ...

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
        """The newest runs first; each filter given narrows: ids below `before`, `status`
        (a status, or a completed run's conclusion), `branch` (``refs/heads/<branch>``),
        `workflow` (its name or file path)."""
        ...

    def get_run(self, run_id: int) -> RunDetail: ...
    def run_events(self, run_id: int, *, after: int = 0) -> list[EventRecord]: ...
    def run_state(self, run_id: int) -> tuple[str, str | None]: ...
    def find_run(self, run: int, repo_path: str | None = None) -> RunInfo | None:
        """A run by its number in `repo_path` (what users see as #N), else by id."""
        ...

    def run_alive(self, run_id: int) -> bool: ...
    def reset_unfinished(self, run_id: int, keep: set[str], planned: set[str]) -> None: ...
    def mark_run_resumed(self, run_id: int, attempt: int) -> None: ...


class DeploymentStore(Protocol):
    """Deployments and the environment lock, gates and decisions, rollbacks, run events."""

    def create_deployment(self, **values: Any) -> int: ...
    def update_deployment(self, deployment_id: int, **values: Any) -> None: ...
    def finish_deployment(self, deployment_id: int, status: str, reason: str | None) -> None: ...
    def get_deployment(self, deployment_id: int) -> DeploymentRow | None: ...
    def list_deployments(
        self, repo_path: str | None = None, environment: str | None = None
    ) -> list[DeploymentRow]: ...
    def deployment_of_job(self, run_id: int, job_key: str) -> DeploymentRow | None: ...
    def last_good(
        self, repo_path: str, environment: str, *, before: int | None = None
    ) -> DeploymentRow | None: ...
    def claim_environment(self, deployment_id: int) -> DeploymentRow | None:
        """Start the deployment unless an earlier live one holds its environment
        (returned); exactly one of several racing claimants gets None."""
        ...

    def open_gate(
        self,
        run_id: int,
        environment: str,
        kind: str = "approval",
        deployment_id: int = 0,
        actor: str = "",
    ) -> tuple[GateRow, bool]: ...
    def update_gate(self, gate_id: int, **values: Any) -> None: ...
    def get_gate(self, gate_id: int) -> GateRow | None: ...
    def gates_of_run(self, run_id: int, status: str | None = None) -> list[GateRow]: ...
    def pending_pauses(self, environment: str) -> list[GateRow]: ...
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
    ) -> int: ...
    def decisions(self, gate_id: int, *, after: int = 0) -> list[DecisionRow]: ...
    def auto_approvals(self, run_id: int) -> list[DecisionRow]: ...
    def create_rollback(self, **values: Any) -> int: ...
    def update_rollback(self, rollback_id: int, **values: Any) -> None: ...
    def get_rollback(self, rollback_id: int) -> RollbackRow | None: ...
    def list_rollbacks(
        self, repo_path: str | None = None, environment: str | None = None
    ) -> list[RollbackRow]: ...
    def interrupted_rollbacks(
        self,
        *,
        run_id: int | None = None,
        job_key: str | None = None,
        repo_path: str | None = None,
        environment: str | None = None,
    ) -> list[RollbackRow]: ...
    def record_event(
        self, run_id: int, kind: str, data: dict[str, Any], job_key: str | None = None
    ) -> None: ...


class Store(Protocol):
    """An open record: its ports, and the directory its logs (always files) live under."""

    @property
    def home(self) -> Path: ...
    @property
    def logs_dir(self) -> Path: ...
    @property
    def where(self) -> str:
        """Where the record is, for messages (a path, or a URL without its password)."""
        ...

    @property
    def runs(self) -> RunStore: ...
    @property
    def deployments(self) -> DeploymentStore: ...
    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
