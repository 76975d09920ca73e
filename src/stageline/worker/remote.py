"""A real worker's `JobPorts`: everything crosses through the server (ADR 0012)."""

from __future__ import annotations

from stageline.plan.model import PlannedJob
from stageline.runner.actions import BUILTIN
from stageline.runner.ports import JobPorts
from stageline.worker.files import RemoteArtifacts, RemoteCache, fetch_actions
from stageline.worker.task import Assignment
from stageline.worker.workspaces import GitWorkspaces


def remote_uses(job: PlannedJob) -> list[str]:
    """The job's `uses:` that name another repository's action (not a built-in, not
    `./path`, not `docker://`): those the worker fetches from the server."""
    found: list[str] = []
    for step in job.steps:
        uses = (step.uses or "").strip()
        name = uses.partition("@")[0].lower()
        if (
            not uses
            or "@" not in uses
            or uses.startswith(("./", "$/", "docker://"))
            or name in BUILTIN
            or uses in found
        ):
            continue
        found.append(uses)
    return found


async def remote_ports(job: Assignment) -> JobPorts:
    """Workspaces from the clone cache over git HTTP, artifacts and the cache through the
    file routes, the job's remote actions fetched into its scratch directory first."""
    actions = job.scratch / "actions"
    await fetch_actions(job.http, job.args.attempt, remote_uses(job.request.job), actions)
    config = job.config
    return JobPorts(
        workspaces=GitWorkspaces(
            config.server,
            config.token,
            job.repo,
            job.request.sha,
            config.cache_dir,
            job.run_root,
            [str(actions)],
        ),
        artifacts=RemoteArtifacts(job.http, job.args.run_id, job.args.attempt),
        cache=RemoteCache(job.http, job.repo, job.args.attempt),
        logs=job.logs,
    )


__all__ = ["remote_ports", "remote_uses"]
