"""A deployment as recorded: what the store keeps and metrics, `deployments` and rollback read.

One record per job (or matrix leg) that deploys to an environment, and one per
rollback (``kind="rollback"``, linked to the deployment it `replaces` and the one
it `restores`). Times are timezone-aware UTC; `commit_time` is the committer date
of `sha`. Status follows GitHub's deployment states: a later success marks older
successful records of the environment ``inactive``, so ``inactive`` also means
"was deployed successfully".

Pure: `to_record` turns a store row into a record, and nothing here imports the store,
so metrics load without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stageline.store.deploy_records import DeploymentRow

DeploymentStatus = Literal["queued", "in_progress", "success", "failure", "rolled_back", "inactive"]
DeploymentKind = Literal["deploy", "rollback"]

#: Statuses of a record that finished and reached the environment successfully.
SUCCEEDED: frozenset[str] = frozenset({"success", "inactive"})
#: Statuses of a change that failed: the deploy itself, or the watch window after it.
FAILED: frozenset[str] = frozenset({"failure", "rolled_back"})
FINISHED: frozenset[str] = SUCCEEDED | FAILED


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: str
    environment: str
    sha: str
    commit_time: datetime
    ref: str
    run_id: str
    job: str
    triggered_by: str
    status: DeploymentStatus
    created_at: datetime
    approved_by: tuple[str, ...] = ()
    url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    kind: DeploymentKind = "deploy"
    #: For a rollback: the deployment it replaces (now rolled_back) and the one it restores.
    replaces: str | None = None
    restores: str | None = None


def to_record(row: DeploymentRow) -> DeploymentRecord:
    """A store row as the pure record metrics and `deployments` read."""
    return DeploymentRecord(
        id=str(row.id),
        environment=row.environment,
        sha=row.sha,
        commit_time=row.commit_time or row.created_at,
        ref=row.ref,
        run_id=str(row.run_id or ""),
        job=row.job_key,
        triggered_by=row.triggered_by,
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        approved_by=tuple(row.approved_by),
        url=row.url,
        started_at=row.started_at,
        finished_at=row.finished_at,
        kind=row.kind,  # type: ignore[arg-type]
        replaces=str(row.replaces) if row.replaces else None,
        restores=str(row.restores) if row.restores else None,
    )


__all__ = [
    "FAILED",
    "FINISHED",
    "SUCCEEDED",
    "DeploymentKind",
    "DeploymentRecord",
    "DeploymentStatus",
    "to_record",
]
