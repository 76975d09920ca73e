"""A run's record as `--json` prints it, for `run`, `show` and the demo (no Typer here:
`run` loads this module on its fast path, `cli.fastargs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stageline.store import RunDetail


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_document(detail: RunDetail, *, steps: bool = False) -> dict[str, Any]:
    """A run as `--json` prints it (the same shape for `run` and `show`)."""
    from stageline.store import jsonable

    run = detail.run
    document: dict[str, Any] = {
        "run_id": run.id,
        "number": run.number,
        "workflow": run.workflow,
        "workflow_path": run.workflow_path,
        "event": run.event,
        "ref": run.ref,
        "sha": run.sha,
        "actor": run.actor,
        "repository": run.repository,
        "status": run.status,
        "conclusion": run.conclusion,
        "reason": run.reason,
        "waiting_for": run.waiting_for,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "log_dir": run.log_dir,
        "jobs": [],
    }
    for job in detail.jobs:
        entry: dict[str, Any] = {
            "key": job.key,
            "job_id": job.job_id,
            "name": job.name,
            "status": job.status,
            "conclusion": job.conclusion,
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
            "outputs": job.outputs,
            "matrix": job.matrix,
            "needs": job.needs,
            "environment": job.environment,
            "waiting_for": job.waiting_for,
            "reason": job.reason,
            "runner_name": job.runner_name,
        }
        if steps:
            entry["steps"] = [jsonable(s) for s in job.steps]
        document["jobs"].append(entry)
    if steps:
        document["annotations"] = [jsonable(a) for a in detail.annotations]
        document["artifacts"] = [jsonable(a) for a in detail.artifacts]
    return document
