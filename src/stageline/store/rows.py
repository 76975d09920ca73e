"""The columns of a new row, as both run stores create them (converted per backend)."""

from __future__ import annotations

import os
import time
from typing import Any

from stageline.runs.states import Status
from stageline.store import liveness
from stageline.store.records import NewJob, NewRun


def run_row(new: NewRun, number: int, now: float) -> dict[str, Any]:
    """A new run's columns (both backends create runs from these)."""
    return {
        "number": number,
        "attempt": 1,
        "repo_path": new.repo_path,
        "repository": new.repository,
        "workflow": new.workflow,
        "workflow_path": new.workflow_path,
        "event": new.event,
        "ref": new.ref,
        "sha": new.sha,
        "actor": new.actor,
        "status": Status.QUEUED,
        "created_at": now,
        "pid": os.getpid(),
        "host": liveness.HOST,
        "heartbeat_at": now,
        "concurrency_group": new.concurrency_group,
        "log_dir": "",
        "plan": new.plan,
    }


def job_row(run_id: int, position: int, job: NewJob, now: float) -> dict[str, Any]:
    """A new job's columns (both backends create jobs from these)."""
    return {
        "run_id": run_id,
        "key": job.key,
        "job_id": job.job_id,
        "name": job.name,
        "position": position,
        "needs": job.needs,
        "matrix": job.matrix,
        "environment": job.environment,
        "concurrency_group": job.concurrency_group,
        "status": Status.QUEUED,
        "outputs": {},
        "created_at": now,
    }


def step_row(
    run_id: int, job_key: str, number: int, name: str, at: float, log_path: str | None = None
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job_key": job_key,
        "number": number,
        "name": name,
        "status": Status.IN_PROGRESS,
        "started_at": at,
        "log_path": log_path,
        "outputs": {},
    }


def event_row(
    run_id: int, kind: str, job_key: str | None, data: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "job_key": job_key,
        "kind": kind,
        "data": data or {},
        "at": time.time(),
    }
