"""Rolling an environment back: its own record, linked both ways, safe to interrupt.

A rollback *replaces* a deployment (the bad one, marked ``rolled_back`` when the
rollback succeeds) and *restores* an earlier one that reached the environment
(``success``/``inactive``): the newest before it, or the one named with ``--to``. It
is done one of two ways:

* ``redeploy`` (default): the restored deployment's own job is run again, from the
  plan recorded with its run, at its commit, with its recorded contexts and the
  artifacts its run uploaded. If those artifacts are gone, the rollback says so and
  stops before changing anything.
* ``script``: the environment's ``rollback.run`` runs in the repository.

Either way the job or script sees ``STAGELINE_ROLLBACK=true`` (plus
``STAGELINE_ROLLBACK_ID``, ``STAGELINE_RESTORES_SHA``, ``STAGELINE_REPLACES_SHA``),
and a job also gets a ``stageline`` context (``stageline.rollback`` true, the ids and
commits). The rollback is a deployment record itself (``kind="rollback"``), so
DORA's time to restore sees it, and a ``rollbacks`` row that names the process doing
it: a rollback whose process died is *interrupted*; `complete` finishes it (``stageline
resume`` of its run, or the next ``stageline rollback`` of the environment). What the
rollback started dies with that process: the script through `deploy.shell`, a re-run
job's steps as every step does (`runner.watchdog`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.deploy.config import EnvironmentConfig
from stageline.deploy.runtime import DeployRuntime
from stageline.deploy.shell import exit_status, shell
from stageline.errors import StagelineError
from stageline.executors.base import Annotation, JobRequest, StepResult
from stageline.plan.model import PlannedJob
from stageline.runner.places import LocalDirs
from stageline.runs.states import Conclusion
from stageline.store.deploy_records import SUCCEEDED, UNFINISHED, DeploymentRow, RollbackRow
from stageline.store.liveness import HOST


@dataclass(frozen=True, slots=True)
class RollbackOutcome:
    ok: bool
    reason: str
    rollback_id: int | None = None


def _short(sha: str) -> str:
    return sha[:7]


def pick_target(
    rt: DeployRuntime, environment: str, replaces: DeploymentRow | None, to: int | None
) -> DeploymentRow | None:
    """The deployment to restore: `to` (checked), else the newest good one before `replaces`."""
    if to is None:
        return rt.store.deployments.last_good(
            rt.repo_dir, environment, before=replaces.id if replaces else None
        )
    target = rt.store.deployments.get_deployment(to)
    if target is None or target.environment != environment:
        raise StagelineError(
            f"no deployment #{to} of environment '{environment}'",
            hint=f"see `stageline deployments {environment}`",
        )
    if target.status not in SUCCEEDED:
        raise StagelineError(
            f"deployment #{to} cannot be restored: it is {target.status}",
            hint="choose one that reached the environment (success or inactive)",
        )
    if replaces is not None and target.id == replaces.id:
        raise StagelineError(f"deployment #{to} is the one being rolled back")
    return target


def missing_artifacts(rt: DeployRuntime, target: DeploymentRow) -> str | None:
    """Why the restored deployment's job cannot be re-run as it was, or None."""
    from stageline.plan.model import plan_from_dict

    if target.run_id is None:
        return f"deployment #{target.id} has no recorded run to re-run"
    run = rt.store.runs.find_run(target.run_id)
    if run is None or not run.plan:
        return f"the run of deployment #{target.id} is no longer recorded"
    try:
        plan_from_dict(run.plan).job(target.job_key)
    except KeyError:
        return f"job {target.job_key} of run {target.run_id} is not in its recorded plan"
    gone = [a for a in rt.store.runs.get_run(target.run_id).artifacts if not os.path.exists(a.path)]
    if gone:
        names = ", ".join(sorted({a.name for a in gone}))
        return (
            f"the artifacts of run {target.run_id} ({names}) are gone "
            f"(expected under {rt.home / 'artifacts' / str(target.run_id)})"
        )
    return None


async def roll_back(
    rt: DeployRuntime,
    env: EnvironmentConfig,
    *,
    replaces: DeploymentRow | None,
    to: int | None = None,
    trigger: str,
    requested_by: str,
    run_id: int | None = None,
    job_key: str = "",
    wait: Callable[[str], None] | None = None,
    cancel: asyncio.Event | None = None,
    started: Callable[[int], None] | None = None,
) -> RollbackOutcome:
    """Roll `env` back in place of `replaces` (recording everything); never raises for
    a rollback that cannot be done — the outcome says why. `cancel` set (the run is
    cancelled) stops the script or the re-run job, and the rollback fails saying so.
    `started` is told the rollback record's id once it exists, before the work (the
    server answers with it and lets the client follow)."""
    script = env.rollback.run if env.rollback else None
    try:
        target = pick_target(rt, env.name, replaces, to)
    except StagelineError as err:
        return RollbackOutcome(False, err.message)
    if target is None and not script:
        return RollbackOutcome(
            False, f"nothing to roll back to: no earlier successful deployment of {env.name}"
        )
    if not script:
        assert target is not None
        problem = missing_artifacts(rt, target)
        if problem:
            reason = f"cannot roll back {env.name} to deployment #{target.id}: {problem}"
            rt.store.deployments.create_rollback(
                repo_path=rt.repo_dir,
                environment=env.name,
                run_id=run_id,
                job_key=job_key,
                replaces=replaces.id if replaces else None,
                restores=target.id,
                method="redeploy",
                trigger=trigger,
                requested_by=requested_by,
                status="failure",
                reason=f"{reason}; nothing was changed",
                finished_at=time.time(),
            )
            return RollbackOutcome(False, f"{reason}; nothing was changed")
    deployment_id = rt.store.deployments.create_deployment(
        repo_path=rt.repo_dir,
        environment=env.name,
        kind="rollback",
        run_id=run_id,
        job_key=job_key,
        sha=target.sha if target else (replaces.sha if replaces else ""),
        ref=target.ref if target else "",
        commit_time=target.commit_time if target else None,
        triggered_by=requested_by,
        status="in_progress",
        started_at=time.time(),
        url=(target.url if target else None) or env.url,
        replaces=replaces.id if replaces else None,
        restores=target.id if target else None,
    )
    rollback_id = rt.store.deployments.create_rollback(
        repo_path=rt.repo_dir,
        environment=env.name,
        run_id=run_id,
        job_key=job_key,
        replaces=replaces.id if replaces else None,
        restores=target.id if target else None,
        deployment_id=deployment_id,
        method="script" if script else "redeploy",
        trigger=trigger,
        requested_by=requested_by,
    )
    rollback = rt.store.deployments.get_rollback(rollback_id)
    assert rollback is not None
    if started is not None:
        started(rollback_id)
    rt.emit(
        "rollback.started",
        run_id,
        job_key or None,
        environment=env.name,
        rollback=rollback_id,
        replaces=rollback.replaces,
        restores=rollback.restores,
        sha=target.sha if target else None,
        trigger=trigger,
        requested_by=requested_by,
    )
    return await complete(rt, env, rollback, wait=wait, cancel=cancel)


async def complete(
    rt: DeployRuntime,
    env: EnvironmentConfig,
    rollback: RollbackRow,
    *,
    wait: Callable[[str], None] | None = None,
    cancel: asyncio.Event | None = None,
) -> RollbackOutcome:
    """Do (or finish, after an interruption) the rollback `rollback` and record the end."""
    rt.store.deployments.update_rollback(rollback.id, pid=os.getpid(), host=HOST)
    target = _deployment(rt, rollback.restores)
    replaced = _deployment(rt, rollback.replaces)
    what = f"deployment #{target.id} ({_short(target.sha)})" if target else "its rollback script"
    if wait is not None:
        how = f"running {env.rollback.run}" if rollback.method == "script" and env.rollback else ""
        wait(
            f"rolling back {env.name} to {what} (rollback #{rollback.id}"
            + (f", {how})" if how else ")")
        )
    try:
        if rollback.method == "script":
            ok, detail = await _run_script(rt, env, rollback, target, replaced, cancel)
        else:
            assert target is not None
            ok, detail = await _redeploy(rt, rollback, target, replaced, cancel)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # a fault of the executor: the rollback failed, say why
        ok, detail = False, f"{type(err).__name__}: {err}"
    if ok:
        if replaced is not None:
            rt.store.deployments.update_deployment(
                replaced.id, status="rolled_back", finished_at=time.time()
            )
        if rollback.deployment_id:
            rt.store.deployments.finish_deployment(rollback.deployment_id, "success", None)
        reason = f"{env.name} rolled back to {what}" + (
            f" in place of deployment #{replaced.id} ({_short(replaced.sha)})" if replaced else ""
        )
    else:
        if replaced is not None and replaced.status in UNFINISHED:
            rt.store.deployments.finish_deployment(replaced.id, "failure", detail)
        if rollback.deployment_id:
            rt.store.deployments.finish_deployment(rollback.deployment_id, "failure", detail)
        reason = f"rollback of {env.name} to {what} failed: {detail}"
    rt.store.deployments.update_rollback(
        rollback.id,
        status="success" if ok else "failure",
        reason=reason,
        finished_at=time.time(),
    )
    rt.emit(
        "rollback.finished",
        rollback.run_id,
        rollback.job_key or None,
        environment=env.name,
        rollback=rollback.id,
        status="success" if ok else "failure",
        reason=reason,
    )
    return RollbackOutcome(ok, reason, rollback.id)


def _deployment(rt: DeployRuntime, deployment_id: int | None) -> DeploymentRow | None:
    return rt.store.deployments.get_deployment(deployment_id) if deployment_id else None


def _variables(
    rollback: RollbackRow, target: DeploymentRow | None, replaced: DeploymentRow | None
) -> dict[str, str]:
    return {
        "STAGELINE_ROLLBACK": "true",
        "STAGELINE_ROLLBACK_ID": str(rollback.id),
        "STAGELINE_ENVIRONMENT": rollback.environment,
        "STAGELINE_RESTORES_SHA": target.sha if target else "",
        "STAGELINE_REPLACES_SHA": replaced.sha if replaced else "",
    }


async def _run_script(
    rt: DeployRuntime,
    env: EnvironmentConfig,
    rollback: RollbackRow,
    target: DeploymentRow | None,
    replaced: DeploymentRow | None,
    cancel: asyncio.Event | None,
) -> tuple[bool, str]:
    assert env.rollback is not None and env.rollback.run
    log_dir = rt.home / "logs" / "rollbacks"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{rollback.id}.log"
    environ = {**os.environ, **rt.extra_env, **_variables(rollback, target, replaced)}
    with open(log_path, "ab") as out:  # the script dies with this process (deploy.shell)
        async with shell(
            env.rollback.run,
            cwd=rt.repo_dir,
            env=environ,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        ) as process:
            code = await exit_status(process, cancel)
    tail = Path(log_path).read_text(errors="replace").strip().splitlines()[-3:]
    said = f" ({' | '.join(tail)})" if tail else ""
    if code is None:
        return False, f"{env.rollback.run} was stopped: the run was cancelled; log: {log_path}"
    if code == 0:
        return True, f"{env.rollback.run}: exit 0"
    return False, f"{env.rollback.run} exited with {code}{said}; log: {log_path}"


class _Sink:
    """Keeps the last lines of a rollback job's output (its steps log to files)."""

    def __init__(self) -> None:
        self.tail: list[str] = []

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        pass

    def log(self, index: int, line: str) -> None:
        self.tail = [*self.tail[-4:], line]

    def step_finished(self, result: StepResult) -> None:
        pass

    def annotation(self, annotation: Annotation) -> None:
        self.tail = [*self.tail[-4:], annotation.message]

    def event(self, name: str, data: dict[str, Any]) -> None:
        pass

    def heartbeat(self) -> None:
        pass


def _secrets(
    job: PlannedJob, secrets: Mapping[str, str], contexts: Mapping[str, Any]
) -> dict[str, str]:
    """The run's secrets, or for a job of a called workflow what its call passes."""
    if job.call is None:
        return dict(secrets)
    from stageline.engine.calls import secrets_of

    return secrets_of(job.call, secrets, contexts)


async def _redeploy(
    rt: DeployRuntime,
    rollback: RollbackRow,
    target: DeploymentRow,
    replaced: DeploymentRow | None,
    cancel: asyncio.Event | None,
) -> tuple[bool, str]:
    from stageline.plan.model import plan_from_dict

    problem = missing_artifacts(rt, target)
    if problem:
        return False, f"{problem}; nothing was changed"
    if rt.executor is None:
        return False, "no executor to re-run the deploy job"
    assert target.run_id is not None
    run = rt.store.runs.find_run(target.run_id)
    assert run is not None
    job = plan_from_dict(run.plan).job(target.job_key)
    variables = _variables(rollback, target, replaced)
    contexts = dict(target.contexts)
    contexts["stageline"] = {
        "rollback": True,
        "rollback_id": rollback.id,
        "environment": rollback.environment,
        "restores": {"deployment": target.id, "sha": target.sha},
        "replaces": {"deployment": replaced.id, "sha": replaced.sha} if replaced else None,
    }
    name = f"rollback-{rollback.id}"
    try:  # the environment's secrets, as its deploy job had them
        stored = rt.store.secrets.values(
            rt.store.secrets.scope_of(rt.repo_dir), rollback.environment
        )
    except StagelineError as err:
        return False, f"{err.message}; nothing was changed"
    released = {k: v for k, v in stored.items() if k not in rt.given_secrets}
    request = JobRequest(
        run_id=str(target.run_id),
        job=job,
        contexts=contexts,
        sha=target.sha,
        ref=target.ref,
        attempt=rollback.id + 1,  # a new attempt of a finished job (1 was the run's)
        secrets=_secrets(job, {**rt.secrets, **released}, contexts),
        extra_env={**rt.extra_env, **variables},
        local=LocalDirs(
            repo_dir=rt.repo_dir,
            work_root=str(rt.home / "work" / name),
            artifacts_dir=str(rt.home / "artifacts" / str(target.run_id)),
            cache_dir=str(rt.home / "cache"),
            log_dir=str(rt.home / "logs" / "rollbacks" / str(rollback.id)),
            action_dirs=list(rt.action_dirs),
        ),
    )
    sink = _Sink()
    result = await rt.executor.run_job(request, sink, cancel or asyncio.Event())
    if result.conclusion is Conclusion.SUCCESS:
        return True, f"job {job.name} re-run at {_short(target.sha)}"
    tail = f" ({' | '.join(sink.tail)})" if sink.tail else ""
    return False, f"job {job.name} failed at {_short(target.sha)}: {result.reason or ''}{tail}"


__all__ = ["RollbackOutcome", "complete", "missing_artifacts", "pick_target", "roll_back"]
