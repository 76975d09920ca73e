"""Module-level delegates to `Store.deployments` (`store.ports.DeploymentStore`) and, for
the run-level names that lived here, to `Store.runs`; existing callers move to
`store.deployments.claim_environment(...)`, `store.runs.find_run(...)`, … and these
names go. The implementation is `store.sql.SqlDeploymentStore` on both backends.
"""

from __future__ import annotations

from typing import Any

from stageline.store.deploy_records import (
    SUCCEEDED,
    UNFINISHED,
    DecisionRow,
    DeploymentRow,
    GateRow,
    RollbackRow,
)
from stageline.store.liveness import STALE_AFTER_S
from stageline.store.ports import Store
from stageline.store.records import (
    RunInfo,
)


def create_deployment(store: Store, **values: Any) -> int:
    return store.deployments.create_deployment(**values)


def update_deployment(store: Store, deployment_id: int, **values: Any) -> None:
    store.deployments.update_deployment(deployment_id, **values)


def finish_deployment(store: Store, deployment_id: int, status: str, reason: str | None) -> None:
    store.deployments.finish_deployment(deployment_id, status, reason)


def get_deployment(store: Store, deployment_id: int) -> DeploymentRow | None:
    return store.deployments.get_deployment(deployment_id)


def list_deployments(
    store: Store, repo_path: str | None = None, environment: str | None = None
) -> list[DeploymentRow]:
    return store.deployments.list_deployments(repo_path, environment)


def deployment_of_job(store: Store, run_id: int, job_key: str) -> DeploymentRow | None:
    return store.deployments.deployment_of_job(run_id, job_key)


def last_good(
    store: Store, repo_path: str, environment: str, *, before: int | None = None
) -> DeploymentRow | None:
    return store.deployments.last_good(repo_path, environment, before=before)


def claim_environment(store: Store, deployment_id: int) -> DeploymentRow | None:
    return store.deployments.claim_environment(deployment_id)


def open_gate(
    store: Store,
    run_id: int,
    environment: str,
    kind: str = "approval",
    deployment_id: int = 0,
    actor: str = "",
) -> tuple[GateRow, bool]:
    return store.deployments.open_gate(run_id, environment, kind, deployment_id, actor)


def update_gate(store: Store, gate_id: int, **values: Any) -> None:
    store.deployments.update_gate(gate_id, **values)


def get_gate(store: Store, gate_id: int) -> GateRow | None:
    return store.deployments.get_gate(gate_id)


def gates_of_run(store: Store, run_id: int, status: str | None = None) -> list[GateRow]:
    return store.deployments.gates_of_run(run_id, status)


def pending_pauses(store: Store, environment: str) -> list[GateRow]:
    return store.deployments.pending_pauses(environment)


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
    return store.deployments.record_decision(
        run_id, gate_id, reviewer, verdict, comment=comment, source_job=source_job, data=data
    )


def decisions(store: Store, gate_id: int, *, after: int = 0) -> list[DecisionRow]:
    return store.deployments.decisions(gate_id, after=after)


def auto_approvals(store: Store, run_id: int) -> list[DecisionRow]:
    return store.deployments.auto_approvals(run_id)


def create_rollback(store: Store, **values: Any) -> int:
    return store.deployments.create_rollback(**values)


def update_rollback(store: Store, rollback_id: int, **values: Any) -> None:
    store.deployments.update_rollback(rollback_id, **values)


def get_rollback(store: Store, rollback_id: int) -> RollbackRow | None:
    return store.deployments.get_rollback(rollback_id)


def list_rollbacks(
    store: Store, repo_path: str | None = None, environment: str | None = None
) -> list[RollbackRow]:
    return store.deployments.list_rollbacks(repo_path, environment)


def interrupted_rollbacks(
    store: Store,
    *,
    run_id: int | None = None,
    job_key: str | None = None,
    repo_path: str | None = None,
    environment: str | None = None,
) -> list[RollbackRow]:
    return store.deployments.interrupted_rollbacks(
        run_id=run_id, job_key=job_key, repo_path=repo_path, environment=environment
    )


def record_event(
    store: Store, run_id: int, kind: str, data: dict[str, Any], job_key: str | None = None
) -> None:
    store.deployments.record_event(run_id, kind, data, job_key)


def find_run(store: Store, run: int, repo_path: str | None = None) -> RunInfo | None:
    return store.runs.find_run(run, repo_path)


def run_alive(store: Store, run_id: int) -> bool:
    return store.runs.run_alive(run_id)


def reset_unfinished(store: Store, run_id: int, keep: set[str], planned: set[str]) -> None:
    store.runs.reset_unfinished(run_id, keep, planned)


def mark_run_resumed(store: Store, run_id: int, attempt: int) -> None:
    store.runs.mark_run_resumed(run_id, attempt)


__all__ = [
    "STALE_AFTER_S",
    "SUCCEEDED",
    "UNFINISHED",
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
    "update_rollback",
]
