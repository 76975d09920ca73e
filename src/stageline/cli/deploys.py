"""`stageline deployments`, `environments` and `rollback`: what is deployed where, and undo.

``rollback ENV`` restores the deployment before the current one (or ``--to ID``);
`app.deploys.rollback` decides who does it (a run whose bake window is paused on ENV,
or this process). With ``--server``, a team server's record, and the server does it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stageline.cli.options import MAX_RECORD_ID, DatabaseUrl, Repo, Server

if TYPE_CHECKING:
    from datetime import datetime

    from stageline.cli.remote import Remote
    from stageline.store.deploy_records import DeploymentRow

_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def deployments(
    environment: Annotated[
        str | None, typer.Argument(help="Only this environment.", show_default=False)
    ] = None,
    json_output: _Json = False,
    database_url: DatabaseUrl = None,
    server: Server = None,
    repo: Repo = None,
) -> None:
    """List deployments (newest first): status, commit, run, who triggered and approved."""
    import json

    if server:
        from stageline.cli import remote
        from stageline.store.deploy_records import DeploymentRow

        with remote.connect(server) as api:
            documents = api.get("/deployments", environment=environment, repo=repo)
        if json_output:
            return remote.dump(documents)
        extra = {"repo_path": "", "contexts": {}}
        return print_deployments(
            [remote.record(DeploymentRow, d, job_key=d["job"], **extra) for d in documents]
        )

    from stageline.app import deploys, gates

    rows = deploys.deployments(Path.cwd(), environment, database_url=database_url)
    if json_output:
        print(json.dumps([describe(r) for r in rows], indent=2))
        return
    print_deployments(rows, gates.approval_origins(Path.cwd(), rows, database_url=database_url))


def print_deployments(
    rows: list[DeploymentRow], origins: dict[int, dict[str, str]] | None = None
) -> None:
    """The deployments table (rows newest first), or a line saying there are none."""
    from stageline.cli.tables import print_table

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
                ", ".join(_approver(name, (origins or {}).get(r.id, {})) for name in r.approved_by),
                f"{r.finished_at:%Y-%m-%d %H:%M:%S}" if r.finished_at else "-",
                note.strip(),
            ]
        )
    columns = ("ID", "ENV", "STATUS", "COMMIT", "RUN", "BY", "APPROVED", "FINISHED", "NOTE")
    print_table(columns, table)


def _approver(name: str, origins: dict[str, str]) -> str:
    """An approver, with where they decided when it was recorded."""
    return f"{name} ({origins[name]})" if origins.get(name) else name


def environments(
    json_output: _Json = False,
    database_url: DatabaseUrl = None,
    server: Server = None,
    repo: Repo = None,
) -> None:
    """Environments: their rules and what is deployed there now."""
    import json

    from stageline.app import deploys

    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            documents = api.get("/environments", repo=repo)
        if json_output:
            return remote.dump(documents)
        found = [deploys.Environment(**d) for d in documents]
    else:
        found = deploys.environments(Path.cwd(), database_url=database_url)
        if json_output:
            print(json.dumps([asdict(e) for e in found], indent=2))
            return
    for e in found:
        now = f"#{e.current} ({str(e.current_sha)[:7]})" if e.current else "nothing"
        print(f"{e.name}: {now} deployed" + (f" at {e.url}" if e.url else ""))
        if e.state:
            print(f"  state: {e.state}")
        if e.deploying:
            print(f"  deploying: #{e.deploying}")
        if e.branches is not None:
            print(f"  branches: {', '.join(e.branches)}")
        if e.approval:
            print(f"  approval: {'; '.join(e.approval)}")
        if e.monitor:
            print(f"  monitor: {', '.join(e.monitor)}")
        if e.rollback:
            print(f"  rollback: {e.rollback}")


def rollback(
    environment: Annotated[str, typer.Argument(help="The environment.", show_default=False)],
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            min=1,
            max=MAX_RECORD_ID,
            help="Restore this deployment (default: the previous).",
        ),
    ] = None,
    as_: Annotated[str | None, typer.Option("--as", help="Roll back as this user.")] = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
    repo: Repo = None,
) -> None:
    """Roll an environment back to an earlier deployment."""
    if server:
        from stageline.cli import remote

        remote.refuse_as(as_)
        with remote.connect(server) as api:
            where = remote.path("environments", environment, "rollback")
            ended = _followed(api, api.post(where, {"to": to}, wait=True, repo=repo))
        if ended["status"] != "success":
            raise remote.RemoteError(ended["reason"] or f"rollback #{ended['id']} failed")
        print(ended["reason"])
        return

    from stageline.app import deploys

    done = deploys.rollback(
        Path.cwd(), environment, to=to, as_=as_, say=print, database_url=database_url
    )
    print(done.reason)


#: How often `rollback --server` asks how the server's rollback is going.
FOLLOW_EVERY_S = 0.5


def _followed(api: Remote, rollback: dict[str, Any]) -> dict[str, Any]:
    """The server's rollback (it runs in the background there) once it has ended."""
    import time

    from stageline.cli import remote

    if rollback["id"] is None:
        raise remote.RemoteError(
            f"the rollback of {rollback['environment']} has started but is not recorded yet",
            hint="see `stageline deployments --server URL` for how it goes",
        )
    while rollback["status"] == "in_progress":
        time.sleep(FOLLOW_EVERY_S)
        rollback = api.get(remote.path("rollbacks", rollback["id"]))
    return rollback


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


__all__ = ["deployments", "describe", "environments", "print_deployments", "rollback"]
