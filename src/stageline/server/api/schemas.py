"""What the API answers and accepts: pydantic models, separate from the store's records.

Each response has the shape the CLI's ``--json`` prints for the same thing
(`stageline runs`, `show`, `deployments`, `environments`, `metrics`), so a script reads
one format whether it asks a server or the local record; tests/cli/test_remote.py
compares the two. Each model is built from records by its `of` class method, so a
new store column changes nothing here until it is chosen to be shown.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from stageline.app.deploys import Environment as EnvironmentInfo
    from stageline.app.gates import DecisionView, GateDecision
    from stageline.app.reads import RunPage as RunPageInfo
    from stageline.deploy.dora import DoraMetrics
    from stageline.store import RunDetail, RunRecord
    from stageline.store.deploy_records import DeploymentRow, RollbackRow
    from stageline.store.records import JobRecord


M = TypeVar("M", bound=BaseModel)


def _of(model: type[M], record: object) -> M:
    """`model` from a record's attributes of the same names (no deep copy, as `asdict`
    makes: a run document holds every step of every job)."""
    return model.model_validate(record, from_attributes=True)


class RunSummary(BaseModel):
    """A run as listed (`stageline runs --json`)."""

    id: int
    number: int
    attempt: int
    repo_path: str
    repository: str
    workflow: str
    workflow_path: str
    event: str
    ref: str
    sha: str
    actor: str
    status: str
    conclusion: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pid: int | None
    host: str | None
    heartbeat_at: datetime | None
    reason: str | None
    waiting_for: str | None
    cancel_requested: str | None
    concurrency_group: str | None
    log_dir: str

    @classmethod
    def of(cls, record: RunRecord) -> RunSummary:
        return cls.model_validate(record, from_attributes=True)


class RunPage(BaseModel):
    """A page of runs, newest first; pass `next_cursor` as `cursor` for the next page."""

    runs: list[RunSummary]
    next_cursor: str | None

    @classmethod
    def of(cls, page: RunPageInfo) -> RunPage:
        return cls(runs=[RunSummary.of(r) for r in page.runs], next_cursor=page.next_cursor)


class Step(BaseModel):
    number: int
    name: str
    status: str
    outcome: str | None
    conclusion: str | None
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    log_path: str | None
    log_size: int | None
    outputs: dict[str, Any]


class Job(BaseModel):
    key: str
    job_id: str
    name: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    finished_at: datetime | None
    outputs: dict[str, Any]
    matrix: dict[str, Any] | None
    needs: list[str]
    environment: str | None
    waiting_for: str | None
    reason: str | None
    runner_name: str | None
    steps: list[Step]

    @classmethod
    def of(cls, job: JobRecord) -> Job:
        values = {name: getattr(job, name) for name in cls.model_fields if name != "steps"}
        return cls(**values, steps=[_of(Step, s) for s in job.steps])


class Annotation(BaseModel):
    job_key: str
    step_number: int | None
    level: str
    message: str
    title: str | None
    file: str | None
    line: int | None
    col: int | None


class Artifact(BaseModel):
    job_key: str
    name: str
    path: str
    size: int | None
    created_at: datetime
    expires_at: datetime | None


class Origin(BaseModel):
    """Where a decision was made: a terminal (``via: local``, its OS user and git
    identity) or the server (``via: server``, the authenticated user); None where that
    way records nothing, and for a decision recorded before origins were."""

    via: str | None
    os_user: str | None
    git: str | None
    user: str | None


class Decision(BaseModel):
    """A decision on one of the run's gates (approval or pause)."""

    environment: str
    kind: str
    reviewer: str
    verdict: str
    at: datetime
    comment: str | None
    origin: Origin

    @classmethod
    def of(cls, view: DecisionView) -> Decision:
        return cls(
            environment=view.environment,
            kind=view.kind,
            reviewer=view.reviewer,
            verdict=view.verdict,
            at=view.at,
            comment=view.comment,
            origin=Origin(**view.made),
        )


class RunDocument(BaseModel):
    """One run with its jobs, steps, annotations, artifacts and the decisions on its
    gates (`stageline show --json`)."""

    run_id: int
    number: int
    workflow: str
    workflow_path: str
    event: str
    ref: str
    sha: str
    actor: str
    repository: str
    status: str
    conclusion: str | None
    reason: str | None
    waiting_for: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log_dir: str
    jobs: list[Job]
    annotations: list[Annotation]
    artifacts: list[Artifact]
    decisions: list[Decision]

    @classmethod
    def of(cls, detail: RunDetail, decisions: list[DecisionView]) -> RunDocument:
        run = detail.run
        listed = {"run_id", "jobs", "annotations", "artifacts", "decisions"}
        names = set(cls.model_fields) - listed
        return cls(
            run_id=run.id,
            **{name: getattr(run, name) for name in names},
            jobs=[Job.of(j) for j in detail.jobs],
            annotations=[_of(Annotation, a) for a in detail.annotations],
            artifacts=[_of(Artifact, a) for a in detail.artifacts],
            decisions=[Decision.of(view) for view in decisions],
        )


class Deployment(BaseModel):
    """A deployment or a rollback (`stageline deployments --json`)."""

    id: int
    environment: str
    kind: str
    status: str
    sha: str
    ref: str
    run_id: int | None
    job: str
    triggered_by: str
    approved_by: list[str]
    url: str | None
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    commit_time: datetime | None
    replaces: int | None
    restores: int | None

    @classmethod
    def of(cls, row: DeploymentRow) -> Deployment:
        names = set(cls.model_fields) - {"job", "approved_by"}
        values = {name: getattr(row, name) for name in names}
        return cls(**values, job=row.job_key, approved_by=list(row.approved_by))


class Environment(BaseModel):
    """An environment's rules and what is deployed there (`stageline environments --json`)."""

    name: str
    url: str | None
    branches: list[str] | None
    approval: list[str]
    monitor: list[str]
    rollback: str | None
    current: int | None
    current_sha: str | None
    deploying: int | None
    deployments: int
    #: Why what it serves is unknown (a deploy its engine died in) and the decision to
    #: make, or None.
    state: str | None = None

    @classmethod
    def of(cls, env: EnvironmentInfo) -> Environment:
        return cls(**asdict(env))


class Metrics(BaseModel):
    """DORA's four keys for one environment (`stageline metrics --json`)."""

    environment: str | None
    since: datetime
    until: datetime
    deployments: int
    deployments_per_day: float
    lead_time_seconds: float | None
    lead_time_changes: int
    failed_deployments: int
    change_failure_rate: float | None
    time_to_restore_seconds: float | None
    restored_incidents: int
    open_incidents: int

    @classmethod
    def of(cls, metrics: DoraMetrics) -> Metrics:
        return cls.model_validate(metrics.to_dict())


class DecisionRequest(BaseModel):
    """A reviewer's decision on the gate a run waits on (the reviewer is who asks)."""

    decision: Literal["approve", "reject"]
    #: Needed when the run waits on several environments.
    environment: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=10_000)


class DecisionMade(BaseModel):
    """A decision that was recorded and counts."""

    run_id: int
    environment: str
    kind: str
    decision: str
    reviewer: str
    effect: str

    @classmethod
    def of(cls, done: GateDecision) -> DecisionMade:
        return cls(
            run_id=done.run_id,
            environment=done.environment,
            kind=done.kind,
            decision=done.verdict,
            reviewer=done.reviewer,
            effect=done.effect,
        )


class RollbackRequest(BaseModel):
    """Roll an environment back to deployment `to` (default: the one before the current)."""

    to: int | None = Field(default=None, ge=1)


class Rollback(BaseModel):
    """A rollback and how it is going. `POST /environments/{name}/rollback` answers 202
    with it (its `Location` is `/rollbacks/{id}`), while it still runs on the server:
    follow it there until `status` is no longer ``in_progress``. `by_run`: the run
    whose paused window does it (None: the server). `id` None: not recorded yet (an
    interrupted rollback is completed first); see `/deployments`."""

    id: int | None
    environment: str
    status: str
    reason: str | None
    by_run: int | None
    replaces: int | None
    restores: int | None
    requested_by: str
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: RollbackRow) -> Rollback:
        return cls(
            id=row.id,
            environment=row.environment,
            status=row.status,
            reason=row.reason,
            by_run=row.run_id,
            replaces=row.replaces,
            restores=row.restores,
            requested_by=row.requested_by,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @classmethod
    def pending(cls, environment: str, who: str) -> Rollback:
        """A rollback started whose record does not exist yet."""
        return cls(
            id=None,
            environment=environment,
            status="in_progress",
            reason=None,
            by_run=None,
            replaces=None,
            restores=None,
            requested_by=who,
            started_at=None,
            finished_at=None,
        )


__all__ = [
    "Annotation",
    "Artifact",
    "Decision",
    "DecisionMade",
    "DecisionRequest",
    "Deployment",
    "Environment",
    "Job",
    "Metrics",
    "Origin",
    "Rollback",
    "RollbackRequest",
    "RunDocument",
    "RunPage",
    "RunSummary",
    "Step",
]
