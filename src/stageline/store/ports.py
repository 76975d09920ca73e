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

from collections.abc import Callable, Iterable, Sequence
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
    from datetime import datetime

    from stageline.store.deploy_records import DecisionRow, DeploymentRow, GateRow, RollbackRow
    from stageline.store.secret_sql import SecretStore
    from stageline.store.server_records import (
        AuditRow,
        RepoRow,
        RunLink,
        TokenRow,
        TriggerRow,
        UserRow,
    )
    from stageline.store.worker_records import AttemptRow, WorkerRow


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
    def step_started(
        self, job_key: str, number: int, name: str, at: float, log_path: str | None = None
    ) -> None:
        """A step began; its `log_path` is recorded now so that a run killed mid-step
        still shows what the step wrote."""
        ...

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None: ...
    def clear_steps(self, job_key: str) -> None:
        """Drop the job's step rows: a lost attempt's, replaced by its retry's (ADR 0012)."""
        ...

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
    def reset_unfinished(self, run_id: int, keep: set[str], planned: set[str]) -> None:
        """Forget the steps and annotations of every job of run `run_id` not in `keep`
        (it runs again: a job completed as cancelled, as a reaped run's were, is queued
        again) and the rows of jobs no longer `planned`."""
        ...

    def mark_run_resumed(self, run_id: int, attempt: int, *, reopen: bool = False) -> bool:
        """Take run `run_id` over as its attempt `attempt` (its pid, host and heartbeat
        become this process's: the resume lease), unless another process took it over
        since it was at `attempt - 1`: False then, and nothing is written. `reopen`: the
        run was completed when its process's death was detected (`liveness.reaped`); it
        is put back in progress, its conclusion and reason cleared."""
        ...


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


class ServerStore(Protocol):
    """The team server's records (ADR 0011): repositories, users, tokens, triggers, the
    links of runs to them, schedules, the audit log. Each call is one transaction; a
    name or email already taken is a `StoreError` saying so."""

    def add_repo(
        self, name: str, url: str, mirror_path: str, webhook_secret: str | None
    ) -> RepoRow: ...
    def get_repo(self, name: str) -> RepoRow | None: ...
    def get_repo_by_id(self, repo_id: int) -> RepoRow | None: ...
    def list_repos(self) -> list[RepoRow]: ...
    def repo_for_url(self, url: str) -> RepoRow | None:
        """Matched without a trailing `/` or `.git`, case-insensitively."""
        ...

    def add_user(
        self, name: str, role: str, emails: list[str], password_hash: str | None
    ) -> UserRow: ...
    def get_user(self, name: str) -> UserRow | None: ...
    def get_user_by_id(self, user_id: int) -> UserRow | None: ...
    def user_for_email(self, email: str) -> UserRow | None: ...
    def list_users(self) -> list[UserRow]: ...

    def add_token(
        self, user_id: int, name: str, token_hash: str, expires_at: datetime | None
    ) -> TokenRow: ...
    def token_by_hash(self, token_hash: str) -> tuple[TokenRow, UserRow] | None:
        """The token and its user, unless unknown, revoked or expired."""
        ...

    def get_token(self, token_id: int) -> TokenRow | None: ...
    def list_tokens(self, user_id: int) -> list[TokenRow]: ...
    def revoke_token(self, token_id: int) -> bool:
        """False when no live token has that id."""
        ...

    def record_trigger(
        self,
        repo_id: int | None,
        source: str,
        kind: str,
        delivery_id: str | None,
        ref: str,
        sha: str,
        actor: str,
        payload: dict[str, Any],
    ) -> int | None:
        """The new trigger's id; None when `(source, delivery_id)` was recorded before
        (the replay guard; exactly one of concurrent equal deliveries gets an id).
        A None `delivery_id` is never a replay."""
        ...

    def finish_trigger(
        self, trigger_id: int, outcome: str, reason: str | None, run_ids: list[int]
    ) -> None: ...
    def list_triggers(
        self, repo_id: int | None = None, limit: int = 50, before: int | None = None
    ) -> list[TriggerRow]:
        """Newest first; `before` is a trigger id (cursor)."""
        ...

    def get_trigger(self, trigger_id: int) -> TriggerRow | None: ...

    def link_run(
        self,
        run_id: int,
        repo_id: int,
        trigger_id: int | None,
        started_by: str,
        author_email: str,
    ) -> None: ...
    def run_link(self, run_id: int) -> RunLink | None: ...
    def runs_of_repo(self, repo_id: int) -> list[int]:
        """Run ids, newest first."""
        ...

    def schedule_last(self, repo_id: int, workflow: str, cron: str) -> datetime | None: ...
    def schedule_mark(self, repo_id: int, workflow: str, cron: str, at: datetime) -> None: ...

    def audit(
        self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None: ...
    def list_audit(self, limit: int = 100, before: int | None = None) -> list[AuditRow]:
        """Newest first; `before` is an audit id (cursor)."""
        ...


class DispatchStore(Protocol):
    """Job attempts and workers (ADR 0012): the lease and fencing of remote jobs.

    State changes are conditional UPDATEs, so of racing writers exactly one wins: a
    duplicate delivery's claim gets None, a stale worker's batch or finish is refused.
    Times of leases and heartbeats are Unix seconds.
    """

    def create_attempt(
        self, run_id: int, job_key: str, queue: str, labels: Sequence[str], number: int = 1
    ) -> AttemptRow:
        """A new `queued` attempt with a fresh id."""
        ...

    def get_attempt(self, attempt_id: str) -> AttemptRow | None: ...
    def running_attempt(self, attempt_id: str, worker: str | None = None) -> AttemptRow | None:
        """The attempt if it is `running` (on `worker`, when given), else None."""
        ...

    def attempts_of_run(self, run_id: int) -> list[AttemptRow]: ...
    def live_attempts(self) -> list[AttemptRow]:
        """Every `queued` or `running` attempt (what a restarted server must conclude)."""
        ...

    def claim(self, attempt_id: str, worker: str, lease_until: float) -> AttemptRow | None:
        """`queued` → `running` on `worker`; None when it was not `queued`."""
        ...

    def extend_leases(
        self, worker: str, attempt_ids: Iterable[str], lease_until: float
    ) -> list[AttemptRow]:
        """Extend the leases of those attempts `running` on `worker`; those rows (an id
        missing from them is stale)."""
        ...

    def apply_batch(self, attempt_id: str, worker: str, seq: int) -> bool | None:
        """Record batch `seq` as applied: True when it is new, False when it was applied
        before, None when the attempt is not `running` on `worker` (stale)."""
        ...

    def finish_attempt(self, attempt_id: str, worker: str, reason: str | None = None) -> bool:
        """`running` on `worker` → `finished`; False when it was not."""
        ...

    def end_attempt(
        self, attempt_id: str, state: str, reason: str, from_states: Sequence[str] = ...
    ) -> bool:
        """End it as `state` (`lost`, `cancelled`) if it is in `from_states` (the live
        states by default); False when it was not."""
        ...

    def request_attempt_cancel(self, attempt_id: str, reason: str) -> AttemptRow | None:
        """Set `cancel_requested` on a live attempt (the first reason stays); its row."""
        ...

    def expired_leases(self, now: float) -> list[AttemptRow]:
        """`running` attempts whose lease ended before `now`."""
        ...

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
        """Register or refresh worker `name` (upsert)."""
        ...

    def get_worker(self, name: str) -> WorkerRow | None: ...
    def list_workers(self, seen_since: float | None = None) -> list[WorkerRow]:
        """By name; only those heard from at or after `seen_since`, when given (live)."""
        ...


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
    @property
    def server(self) -> ServerStore:
        """The team server's records (ADR 0011); loaded on first use."""
        ...

    @property
    def dispatch(self) -> DispatchStore:
        """Job attempts and workers (ADR 0012); loaded on first use."""
        ...

    @property
    def secrets(self) -> SecretStore:
        """The secrets store (issue 13), encrypted at rest (`store.secret_sql`)."""
        ...

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
