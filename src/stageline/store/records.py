"""What the store hands out: plain, immutable records (never ORM rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


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
