"""`stageline workers`: the live workers of a team server (ADR 0012), from its data
dir (`--data-dir`/`--database-url`, as `repo add`) or over its API (`--server URL`,
with the token in $STAGELINE_TOKEN)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from stageline.cli.options import DatabaseUrl, Server
from stageline.cli.server import DataDir


def workers(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    server: Server = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List the live workers: their queues, current jobs and last heartbeat."""
    import json

    from stageline.cli.tables import print_table

    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            documents: list[dict[str, Any]] = api.get("/workers")
    else:
        from stageline.app import workers as found
        from stageline.app.serverdata import open_server

        with open_server(data_dir, database_url) as opened:
            documents = [found.document(w) for w in found.live(opened)]
    if json_output:
        print(json.dumps(documents, indent=2))
        return
    if not documents:
        print("no live worker (start one: stageline worker --server URL)")
        return
    rows = []
    for d in documents:
        current = ", ".join(f"run {c['run_id']} {c['job_key']}" for c in d["current"])
        seen = datetime.fromisoformat(d["last_seen"]).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(
            [
                d["name"],
                ", ".join(d["queues"]),
                f"{len(d['current'])}/{d['concurrency']}",
                current or "idle",
                seen,
            ]
        )
    print_table(["worker", "queues", "busy", "current jobs", "last heartbeat"], rows)


__all__ = ["workers"]
