"""Deployment records through their life: queued → in_progress → success | failure |
rolled_back, and inactive once a later deployment of the environment succeeds.

One record per job (or matrix leg) that deploys to an environment. It is created
when the job has passed its gate and queues for the environment (deploys to one
environment never overlap, across processes: `store.deployments.claim_environment`),
goes ``in_progress`` when it gets the environment, and ends when the job's bake
window ends (or at once when the environment has no monitor). A resumed job reuses
its unfinished record.

A deployment whose process died in a step of its job (SIGKILL, a crash, a lost
machine) is concluded ``failure`` with the reason (`store.liveness.interrupted`) when
the death is detected: by the next command that reaps orphans (`runs`, `show`,
`environments`, `lint`, the server's reaper) or by `resume`. The environment may then
serve either release, so its state is *unknown* (`unknown_state`) until a person
decides: roll back, or deploy again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stageline.deploy.runtime import DeployRuntime, sleep_or_cancel
from stageline.engine.hooks import Hold
from stageline.runs.states import ACTIVE_STATUSES
from stageline.store.deploy_records import UNFINISHED
from stageline.store.liveness import INTERRUPTED, reaped

if TYPE_CHECKING:
    from stageline.store.db import Store
    from stageline.store.deploy_records import DeploymentRow


def jsonable_contexts(contexts: Mapping[str, Any]) -> dict[str, Any]:
    """The job's contexts as plain JSON data (what a rollback re-runs the job with)."""
    import json

    return dict(json.loads(json.dumps(dict(contexts), default=str)))


def approvers(rt: DeployRuntime, run_id: int, environment: str) -> list[str]:
    """Who approved the run's gate for `environment` (empty when it had none)."""
    for gate in rt.store.deployments.gates_of_run(run_id):
        if gate.environment == environment and gate.kind == "approval":
            return list(gate.decided_by)
    return []


async def queue_and_start(
    rt: DeployRuntime, hold: Hold, *, wait: Callable[[str], None] | None = None
) -> int | None:
    """Create (or reuse) the job's deployment, wait for the environment, start it.

    Returns the deployment id, or None if the job was cancelled while queued.
    """
    job = hold.job
    assert job.environment is not None
    name = job.environment.name
    env = rt.config.environment(name)
    github = hold.contexts.get("github") or {}
    existing = rt.store.deployments.deployment_of_job(hold.run_id, job.key)
    # A URL with expressions is known when the job has run (`record_url`).
    written = job.environment.url
    url = written if written and "${{" not in written else env.url
    if existing is not None and existing.status in UNFINISHED:
        deployment_id = existing.id
        rt.store.deployments.update_deployment(deployment_id, status="queued")
    else:
        sha = str(github.get("sha") or "")
        deployment_id = rt.store.deployments.create_deployment(
            repo_path=rt.repo_dir,
            environment=name,
            run_id=hold.run_id,
            job_key=job.key,
            sha=sha,
            ref=str(github.get("ref") or ""),
            commit_time=rt.commit_time(sha) if sha else None,
            triggered_by=str(github.get("triggering_actor") or github.get("actor") or ""),
            approved_by=approvers(rt, hold.run_id, name),
            url=url,
            contexts=jsonable_contexts(hold.contexts),
        )
    said = ""
    while True:
        blocker = rt.store.deployments.claim_environment(deployment_id)
        if blocker is None:
            break
        text = (
            f"deployment #{blocker.id} to {name} ({blocker.status}"
            + (f", run {blocker.run_id}" if blocker.run_id else "")
            + ") must finish first"
        )
        if text != said:
            said = text
            (wait or hold.wait)(text)
        if await sleep_or_cancel(rt.poll, hold.cancel):
            rt.store.deployments.finish_deployment(
                deployment_id, "failure", "cancelled before it started"
            )
            return None
    rt.open[(hold.run_id, job.key)] = deployment_id
    row = rt.store.deployments.get_deployment(deployment_id)
    assert row is not None
    rt.emit(
        "deployment.started",
        hold.run_id,
        job.key,
        environment=name,
        deployment=deployment_id,
        sha=row.sha,
        ref=row.ref,
        url=row.url,
        approved_by=", ".join(row.approved_by) or None,
    )
    return deployment_id


def record_url(rt: DeployRuntime, run_id: int, job_key: str, url: str | None) -> None:
    """Record the URL the job's `environment.url` evaluated to (after the job, as on
    GitHub) on its open deployment."""
    deployment_id = rt.open.get((run_id, job_key))
    if deployment_id is not None and url:
        rt.store.deployments.update_deployment(deployment_id, url=url)


def finish(
    rt: DeployRuntime, run_id: int, job_key: str, status: str, reason: str | None = None
) -> None:
    """End the job's open deployment and announce it (succeeded or failed)."""
    deployment_id = rt.open.pop((run_id, job_key), None)
    if deployment_id is None:
        return
    rt.store.deployments.finish_deployment(deployment_id, status, reason)
    row = rt.store.deployments.get_deployment(deployment_id)
    assert row is not None
    kind = "deployment.succeeded" if status == "success" else "deployment.failed"
    rt.emit(
        kind,
        run_id,
        job_key,
        environment=row.environment,
        deployment=deployment_id,
        sha=row.sha,
        url=row.url,
        reason=reason,
    )


def interrupted_deployment(rows: Sequence[DeploymentRow]) -> DeploymentRow | None:
    """The environment's newest deployment that started, if its process died in it
    (`rows`: the environment's deployments, oldest first): what a rollback replaces."""
    started = [r for r in rows if r.status != "queued"]
    if not started:
        return None
    last = started[-1]
    if last.status != "failure" or not (last.reason or "").startswith(INTERRUPTED):
        return None
    return last


def unknown_state(store: Store, rows: Sequence[DeploymentRow]) -> str | None:
    """Why the environment's state is unknown, with the decision to make, or None.

    `rows`: the environment's deployments, oldest first. It is unknown when its newest
    deployment that started was interrupted by the death of its process.
    """
    last = interrupted_deployment(rows)
    if last is None:
        return None
    again = "deploy again with a new `stageline run`"
    if last.run_id is not None:
        run = store.runs.get_run(last.run_id).run
        if run.status in ACTIVE_STATUSES or reaped(run.status, run.reason):
            again = f"deploy again: `stageline resume {last.run_id}`"
    return (
        f"unknown: deployment #{last.id} ({last.sha[:7]}, run {last.run_id}) was "
        f"{last.reason}. Decide: `stageline rollback {last.environment}`, or {again}"
    )


def environment_warnings(root: Path) -> list[str]:
    """One line per environment of the repository at `root` whose state is unknown
    (`lint` shows them); none without a record. Orphaned runs are reaped first, so a
    deploy whose process just died counts."""
    import os

    from stageline.store import DATABASE_URL_ENV, DB_NAME, open_store, store_home

    home = store_home(root)
    url = os.environ.get(DATABASE_URL_ENV) or None
    if url is None and not (home / DB_NAME).exists():
        return []
    with open_store(home, url) as store:
        store.runs.reap_orphans()
        rows = store.deployments.list_deployments(str(root))
        found = []
        for name in dict.fromkeys(r.environment for r in rows):
            state = unknown_state(store, [r for r in rows if r.environment == name])
            if state is not None:
                found.append(f"{root}: environment {name}: {state}")
        return found


__all__ = [
    "approvers",
    "environment_warnings",
    "finish",
    "interrupted_deployment",
    "jsonable_contexts",
    "queue_and_start",
    "record_url",
    "unknown_state",
]
