"""What the delivery ports hand out: deployments, gates, decisions, rollbacks.

Apart from `store.records` so the run path, which never touches them, does not pay
for defining them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Deployment statuses that still hold (or wait for) their environment.
UNFINISHED = ("queued", "in_progress")
#: Deployment statuses that reached their environment.
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
