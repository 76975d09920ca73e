"""`stageline deployments`, `environments` and `rollback`: what is deployed where, and undo.

``rollback ENV`` restores the deployment before the current one (or ``--to ID``).
When a run's bake window is paused on ENV, the rollback is that run's to do: the
command records the decision and waits for the run to finish it. Otherwise it rolls
back here and now (a rollback another process left unfinished is completed first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from stageline.cli.approvals import Repo
    from stageline.store import Store
    from stageline.store.deployments import DeploymentRow

_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def deployments(
    environment: Annotated[
        str | None, typer.Argument(help="Only this environment.", show_default=False)
    ] = None,
    json_output: _Json = False,
) -> None:
    """List deployments (newest first): status, commit, run, who triggered and approved."""
    import json

    from stageline.cli.approvals import open_repo
    from stageline.cli.tables import print_table
    from stageline.store import deployments as store_deploys

    with open_repo() as repo:
        rows = store_deploys.list_deployments(repo.store, str(repo.root), environment)
    rows.reverse()
    if json_output:
        print(json.dumps([describe(r) for r in rows], indent=2))
        return
    if not rows:
        print("no deployments")
        return
    table: list[list[str]] = []
    for r in rows:
        note = r.reason or ""
        if r.kind == "rollback":
            note = f"rollback: restores #{r.restores} in place of #{r.replaces}. {note}"
        table.append(
            [
                str(r.id),
                r.environment,
                r.status,
                r.sha[:7],
                str(r.run_id or "-"),
                r.triggered_by,
                ", ".join(r.approved_by),
                f"{r.finished_at:%Y-%m-%d %H:%M:%S}" if r.finished_at else "-",
                note.strip(),
            ]
        )
    columns = ("ID", "ENV", "STATUS", "COMMIT", "RUN", "BY", "APPROVED", "FINISHED", "NOTE")
    print_table(columns, table)


def environments(json_output: _Json = False) -> None:
    """Environments: their rules and what is deployed there now."""
    import json

    from stageline.cli.approvals import open_repo
    from stageline.store import deployments as store_deploys

    with open_repo() as repo:
        rows = store_deploys.list_deployments(repo.store, str(repo.root))
        names = list(repo.config.environments)
        names += sorted({r.environment for r in rows} - set(names))
        out: list[dict[str, Any]] = []
        for name in names:
            env = repo.config.environment(name)
            mine = [r for r in rows if r.environment == name]
            current = next((r for r in reversed(mine) if r.status == "success"), None)
            active = next(
                (r for r in reversed(mine) if r.status in ("queued", "in_progress")), None
            )
            rules = env.approval.rules if env.approval else []
            out.append(
                {
                    "name": name,
                    "url": env.url,
                    "branches": env.branches,
                    "approval": [f"{r.required} of {', '.join(r.reviewers)}" for r in rules],
                    "monitor": [c.name for c in env.monitor.checks] if env.monitor else [],
                    "rollback": env.rollback.mode if env.rollback else None,
                    "current": current.id if current else None,
                    "current_sha": current.sha if current else None,
                    "deploying": active.id if active else None,
                    "deployments": len(mine),
                }
            )
    if json_output:
        print(json.dumps(out, indent=2))
        return
    for e in out:
        now = f"#{e['current']} ({str(e['current_sha'])[:7]})" if e["current"] else "nothing"
        print(f"{e['name']}: {now} deployed" + (f" at {e['url']}" if e["url"] else ""))
        if e["deploying"]:
            print(f"  deploying: #{e['deploying']}")
        if e["branches"] is not None:
            print(f"  branches: {', '.join(e['branches'])}")
        if e["approval"]:
            print(f"  approval: {'; '.join(e['approval'])}")
        if e["monitor"]:
            print(f"  monitor: {', '.join(e['monitor'])}")
        if e["rollback"]:
            print(f"  rollback: {e['rollback']}")


def rollback(
    environment: Annotated[str, typer.Argument(help="The environment.", show_default=False)],
    to: Annotated[
        int | None, typer.Option("--to", help="Restore this deployment (default: the previous).")
    ] = None,
    as_: Annotated[str | None, typer.Option("--as", help="Roll back as this user.")] = None,
) -> None:
    """Roll an environment back to an earlier deployment."""
    import asyncio

    from stageline.cli.approvals import open_repo
    from stageline.deploy.rollback import complete, roll_back
    from stageline.deploy.wiring import wire
    from stageline.errors import RunError
    from stageline.executors import get_executor
    from stageline.store import deployments as store_deploys

    with open_repo() as repo:
        who = _who(repo, as_)
        pauses = [
            g
            for g in store_deploys.pending_pauses(repo.store, environment)
            if store_deploys.run_alive(repo.store, g.run_id)
        ]
        if pauses:
            gate = pauses[0]
            store_deploys.record_decision(
                repo.store,
                gate.run_id,
                gate.id,
                who,
                "rollback",
                comment="stageline rollback",
                data={"to": to} if to else {},
            )
            print(f"run {gate.run_id} is paused on {environment}: it rolls back now")
            _follow(repo.store, gate.deployment_id)
            return
        env = repo.config.environment(environment)
        hooks = wire(repo.store, repo.root, get_executor("local"), config=repo.config)
        rt = hooks.runtime
        rt.secrets, rt.extra_env, rt.action_dirs = _run_environment(repo)
        try:
            for interrupted in store_deploys.interrupted_rollbacks(
                repo.store, repo_path=str(repo.root), environment=environment
            ):
                print(f"completing rollback #{interrupted.id}, interrupted earlier")
                outcome = asyncio.run(complete(rt, env, interrupted))
                print(outcome.reason)
            rows = store_deploys.list_deployments(repo.store, str(repo.root), environment)
            current = next((r for r in reversed(rows) if r.status == "success"), None)
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
                )
            )
        finally:
            hooks.close()
    if not outcome.ok:
        raise RunError(outcome.reason)
    print(outcome.reason)


def _run_environment(repo: Repo) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Secrets, extra env and action dirs as `stageline run` would give the job
    (`.secrets`, `.env`, `.stageline/actions` of the repository)."""
    from stageline.engine.setup import read_dotenv

    secrets, env = repo.root / ".secrets", repo.root / ".env"
    return (
        read_dotenv(secrets, "secret file") if secrets.is_file() else {},
        read_dotenv(env, "env file") if env.is_file() else {},
        [str(repo.root / ".stageline" / "actions")],
    )


def _who(repo: Repo, as_: str | None) -> str:
    """Who rolls back (recorded); an unknown identity does not stop a rollback."""
    from stageline.deploy.identity import who_am_i
    from stageline.errors import ConfigError

    try:
        return who_am_i(repo.config, str(repo.root), as_)
    except ConfigError:
        return "unknown"


def _follow(store: Store, deployment_id: int, timeout: float = 600.0) -> None:
    """Wait until the paused run has rolled `deployment_id` back; say how it went."""
    import time

    from stageline.errors import RunError
    from stageline.store import deployments as store_deploys

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [
            r
            for r in store_deploys.list_rollbacks(store)
            if r.replaces == deployment_id and r.status != "in_progress"
        ]
        if done:
            if done[-1].status != "success":
                raise RunError(done[-1].reason or "the rollback failed")
            print(done[-1].reason)
            return
        time.sleep(0.2)
    raise RunError("the paused run did not roll back in time", hint="see `stageline show`")


def describe(row: DeploymentRow) -> dict[str, Any]:
    """JSON-able view of a deployment, for `stageline deployments --json`."""

    from datetime import UTC

    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value else None

    return {
        "id": row.id,
        "environment": row.environment,
        "kind": row.kind,
        "status": row.status,
        "sha": row.sha,
        "ref": row.ref,
        "run_id": row.run_id,
        "job": row.job_key,
        "triggered_by": row.triggered_by,
        "approved_by": list(row.approved_by),
        "url": row.url,
        "reason": row.reason,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "commit_time": iso(row.commit_time),
        "replaces": row.replaces,
        "restores": row.restores,
    }


__all__ = ["deployments", "describe", "environments", "rollback"]
