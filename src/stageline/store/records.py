"""What goes in and out of the store: plain, immutable records (never ORM rows).

The ports (`store.ports`) speak only these types, so every implementation returns
the same values and a caller never sees a backend's row type.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from stageline.errors import RunError


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def jsonable(record: Any) -> dict[str, Any]:
    """`asdict` with datetimes as ISO 8601 strings (for `--json` output)."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return _iso(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    return convert(asdict(record))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class RunRecord:
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


@dataclass(frozen=True, slots=True)
class StepRecord:
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


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    key: str
    job_id: str
    name: str
    needs: list[str]
    matrix: dict[str, Any] | None
    environment: str | None
    concurrency_group: str | None
    status: str
    conclusion: str | None
    outputs: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    waiting_for: str | None
    reason: str | None
    steps: list[StepRecord] = field(default_factory=list)
    #: The machine that ran it (GitHub's `runner_name`): a worker's name, or the host's.
    runner_name: str | None = None


@dataclass(frozen=True, slots=True)
class AnnotationRecord:
    job_key: str
    step_number: int | None
    level: str
    message: str
    title: str | None
    file: str | None
    line: int | None
    col: int | None


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    job_key: str
    name: str
    path: str
    size: int | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    job_key: str | None
    kind: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run with everything recorded about it (what `stageline show` prints)."""

    run: RunRecord
    jobs: list[JobRecord]
    annotations: list[AnnotationRecord]
    artifacts: list[ArtifactRecord]


# -- what a caller hands in ----------------------------------------------------------------


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


# -- run-level answers ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Controls:
    """What other processes asked of a run: stop it, or stop some of its jobs."""

    cancel_run: str | None
    cancel_jobs: dict[str, str]


@dataclass(frozen=True, slots=True)
class GroupMember:
    """An active run or job in a concurrency group."""

    run_id: int
    number: int
    job_pk: int | None
    status: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What resume, approvals and rollbacks need of a run (cheaper than `RunDetail`)."""

    id: int
    number: int
    repo_path: str
    status: str
    actor: str
    ref: str
    sha: str
    plan: dict[str, Any]
    waiting_for: str | None


def no_run(where: str, run_id: int, hint: str | None = "see `stageline runs`") -> RunError:
    """The error every store raises for a run it does not hold."""
    return RunError(f"no run {run_id} in the record at {where}", hint=hint)
