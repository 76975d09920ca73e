"""Environments and deployments: roll back, and read what is deployed where and how well.

Who performs a rollback: when a run's bake window is paused on the environment and
that run's process is alive, the rollback is that run's to do — `rollback` records
the decision and waits for the run to finish it. Otherwise it rolls back here and
now, completing first a rollback another process left unfinished, and re-running the
restored deployment's job with what `stageline run` would give it (`.secrets`,
`.env`, `.stageline/actions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app import context
from stageline.errors import ConfigError, RunError, StoreError

if TYPE_CHECKING:
    from stageline.app.runs import Say
    from stageline.deploy.dora import DoraMetrics
    from stageline.deploy.records import DeploymentRecord
    from stageline.executors.base import Executor
    from stageline.store import Store
    from stageline.store.deploy_records import DeploymentRow

#: How long `rollback` waits for a paused run to roll back.
FOLLOW_S = 600.0


@dataclass(frozen=True, slots=True)
class RolledBack:
    """A rollback that succeeded: what it did, and which run did it (None: this process)."""

    reason: str
    by_run: int | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    """An environment: its rules and what is deployed there now (ids of deployments)."""

    name: str
    url: str | None
    branches: list[str] | None
    #: One line per approval rule: "N of reviewer, reviewer".
    approval: list[str]
    #: The names of its monitor's checks.
    monitor: list[str]
    rollback: str | None
    current: int | None
    current_sha: str | None
    deploying: int | None
    deployments: int
    #: Why what it serves is unknown and the decision to make (`unknown_state`), or None.
    state: str | None = None


def deployments(
    repo_dir: str | Path, environment: str | None = None, *, database_url: str | None = None
) -> list[DeploymentRow]:
    """The repository's deployments (of `environment`, or all), newest first."""

    with context.open(repo_dir, database_url) as ctx:
        return deployments_in(ctx, environment)


def deployments_in(ctx: context.Context, environment: str | None = None) -> list[DeploymentRow]:
    """The deployments of `ctx`'s repository (of `environment`, or all), newest first."""
    rows = ctx.store.deployments.list_deployments(str(ctx.root), environment)
    rows.reverse()
    return rows


def rollback_ids(repo_dir: str | Path, *, database_url: str | None = None) -> list[int]:
    """The repository's rollbacks, oldest first."""

    with context.open(repo_dir, database_url) as ctx:
        return [row.id for row in ctx.store.deployments.list_rollbacks(str(ctx.root))]


def environments(repo_dir: str | Path, *, database_url: str | None = None) -> list[Environment]:
    """The environments of `.stageline.yml`, then any others deployed to, in that order."""

    with context.open(repo_dir, database_url, reap=True) as ctx:
        return environments_in(ctx)


def environments_in(ctx: context.Context) -> list[Environment]:
    """The environments of `ctx`'s `.stageline.yml`, then any others deployed to."""
    from stageline.deploy.deployments import unknown_state

    config = ctx.config
    rows = ctx.store.deployments.list_deployments(str(ctx.root))
    names = list(config.environments)
    names += sorted({r.environment for r in rows} - set(names))
    out: list[Environment] = []
    for name in names:
        env = config.environment(name)
        mine = [r for r in rows if r.environment == name]
        current = next((r for r in reversed(mine) if r.status == "success"), None)
        active = next((r for r in reversed(mine) if r.status in ("queued", "in_progress")), None)
        rules = env.approval.rules if env.approval else []
        out.append(
            Environment(
                name=name,
                url=env.url,
                branches=env.branches,
                approval=[f"{r.required} of {', '.join(r.reviewers)}" for r in rules],
                monitor=[c.name for c in env.monitor.checks] if env.monitor else [],
                rollback=env.rollback.mode if env.rollback else None,
                current=current.id if current else None,
                current_sha=current.sha if current else None,
                deploying=active.id if active else None,
                deployments=len(mine),
                state=unknown_state(ctx.store, mine),
            )
        )
    return out


def metrics(
    repo_dir: str | Path,
    environment: str | None = None,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
    database_url: str | None = None,
) -> list[DoraMetrics]:
    """DORA's four keys over the last `since` (default: since the first deployment), for
    `environment` or for each environment deployed to."""
    records = deployment_records(repo_dir, environment, database_url=database_url)
    return metrics_of(records, environment, since=since, now=now)


def metrics_in(
    ctx: context.Context,
    environment: str | None = None,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> list[DoraMetrics]:
    """DORA's four keys of `ctx`'s repository (see `metrics`); none before a deployment."""
    from stageline.deploy.records import to_record

    rows = ctx.store.deployments.list_deployments(str(ctx.root), environment)
    return metrics_of([to_record(r) for r in rows], environment, since=since, now=now)


def metrics_of(
    records: list[DeploymentRecord],
    environment: str | None = None,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> list[DoraMetrics]:
    """DORA's four keys of `records` for `environment`, or for each one deployed to."""
    from stageline.deploy.dora import compute

    until = now or datetime.now(UTC)
    start = until - since if since is not None else None
    names = [environment] if environment else sorted({r.environment for r in records})
    return [compute(records, until=until, since=start, environment=name) for name in names]


def deployment_records(
    repo_dir: str | Path, environment: str | None = None, *, database_url: str | None = None
) -> list[DeploymentRecord]:
    """The deployments as the pure records DORA reads, oldest first (StoreError when the
    repository has recorded nothing yet)."""
    from stageline.deploy.records import to_record

    try:
        with context.open(repo_dir, database_url) as ctx:
            rows = ctx.store.deployments.list_deployments(str(ctx.root), environment)
    except context.NoRecordError as err:
        from stageline.store import store_home

        raise StoreError(
            "no deployment records yet",
            hint="deployments are recorded when a run deploys to an environment "
            f"(store: {store_home(context.repo_root(repo_dir))})",
        ) from err
    return [to_record(row) for row in rows]


def rollback(
    repo_dir: str | Path,
    environment: str,
    *,
    to: int | None = None,
    as_: str | None = None,
    say: Say = lambda text: None,
    executor: str | None = None,
    database_url: str | None = None,
) -> RolledBack:
    """Roll `environment` back (see `rollback_in`), as `as_` or the user this process
    runs as."""
    with context.open(repo_dir, database_url) as ctx:
        return rollback_in(ctx, environment, to=to, who=_who(ctx, as_), say=say, executor=executor)


def rollback_in(
    ctx: context.Context,
    environment: str,
    *,
    to: int | None = None,
    who: str,
    say: Say = lambda text: None,
    executor: str | Executor | None = None,
    origin: Mapping[str, str] | None = None,
    started: Callable[[int], None] | None = None,
) -> RolledBack:
    """Roll `environment` back to deployment `to` (default: the one before the current),
    by the paused run or here (see module doc), recorded as requested by `who`; raises
    RunError when it cannot or fails. Asking a paused run to roll back is a decision on
    its pause gate, recorded with `origin` (default: this terminal's) and refused
    (`gates.ServerOnly`) where the environment takes decisions only through the server.
    `started` is told the id of the rollback's record once it exists (whoever does it).
    `executor`: a name (None: as `app.runs.choose_executor` picks for a run), or the one to
    re-run the deploy job on (a celery server's `RemoteExecutor`: the job goes to a worker)."""
    import asyncio

    from stageline.app.gates import refuse_local
    from stageline.app.runs import choose_executor
    from stageline.deploy.deployments import interrupted_deployment
    from stageline.deploy.reviewers import local_origin
    from stageline.deploy.rollback import complete, roll_back
    from stageline.deploy.wiring import wire
    from stageline.engine.setup import run_environment

    pauses = [
        g
        for g in ctx.store.deployments.pending_pauses(environment)
        if ctx.store.runs.run_alive(g.run_id)
    ]
    if pauses:
        gate = pauses[0]
        made = dict(origin) if origin is not None else local_origin(str(ctx.root))
        refuse_local(ctx.config, environment, made)
        ctx.store.deployments.record_decision(
            gate.run_id,
            gate.id,
            who,
            "rollback",
            comment="stageline rollback",
            data={**made, "to": to} if to else made,
        )
        say(f"run {gate.run_id} is paused on {environment}: it rolls back now")
        return RolledBack(_follow(ctx.store, gate.deployment_id, started), gate.run_id)
    env = ctx.config.environment(environment)
    if executor is None or isinstance(executor, str):
        executor = choose_executor(ctx, executor)
    hooks = wire(ctx.store, ctx.root, executor, config=ctx.config)
    rt = hooks.runtime
    given = run_environment(ctx.root)
    rt.secrets, rt.extra_env, rt.action_dirs = given.secrets, given.extra_env, given.action_dirs
    try:
        for interrupted in ctx.store.deployments.interrupted_rollbacks(
            repo_path=str(ctx.root), environment=environment
        ):
            say(f"completing rollback #{interrupted.id}, interrupted earlier")
            say(asyncio.run(complete(rt, env, interrupted)).reason)
        rows = ctx.store.deployments.list_deployments(str(ctx.root), environment)
        current = interrupted_deployment(rows) or next(  # an unknown state: undo that deploy
            (r for r in reversed(rows) if r.status == "success"), None
        )
        if current is None:
            raise RunError(
                f"nothing is deployed to {environment}",
                hint=f"see `stageline deployments {environment}`",
            )
        outcome = asyncio.run(
            roll_back(
                rt,
                env,
                replaces=current,
                to=to,
                trigger="stageline rollback",
                requested_by=who,
                started=started,
            )
        )
    finally:
        hooks.close()
    if not outcome.ok:
        raise RunError(outcome.reason)
    return RolledBack(outcome.reason)


def _who(ctx: context.Context, as_: str | None) -> str:
    """Who rolls back (recorded); an unknown identity does not stop a rollback."""
    from stageline.deploy.reviewers import who_am_i

    try:
        return who_am_i(ctx.config, str(ctx.root), as_)
    except ConfigError:
        return "unknown"


def _follow(
    store: Store,
    deployment_id: int | None,
    started: Callable[[int], None] | None = None,
    timeout: float = FOLLOW_S,
) -> str:
    """Wait until the paused run has rolled `deployment_id` back (telling `started` the
    rollback's id once the run has recorded it); how it went."""
    import time

    deadline = time.monotonic() + timeout
    told = False
    while time.monotonic() < deadline:
        mine = [r for r in store.deployments.list_rollbacks() if r.replaces == deployment_id]
        if mine and not told and started is not None:
            started(mine[-1].id)
            told = True
        done = [r for r in mine if r.status != "in_progress"]
        if done:
            if done[-1].status != "success":
                raise RunError(done[-1].reason or "the rollback failed")
            return done[-1].reason or "rolled back"
        time.sleep(0.2)
    raise RunError("the paused run did not roll back in time", hint="see `stageline show`")


__all__ = [
    "Environment",
    "RolledBack",
    "deployment_records",
    "deployments",
    "deployments_in",
    "environments",
    "environments_in",
    "metrics",
    "metrics_in",
    "metrics_of",
    "rollback",
    "rollback_ids",
    "rollback_in",
]
