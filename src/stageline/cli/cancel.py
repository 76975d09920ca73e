"""`stageline cancel RUN`: stop a run, here or on a team server.

Locally the run's own process is asked to stop (it kills its steps' process trees and
records them cancelled); a run no process drives any more (left waiting at a gate) is
completed as cancelled at once (`app.runs.cancel`). With ``--server``, the server's run
host does the same, and a job running on a worker is stopped there (ADR 0012).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stageline.cli.options import DatabaseUrl, RunId, Server


def cancel(
    run: RunId,
    reason: Annotated[
        str, typer.Option("--reason", help="Recorded as why the run was cancelled.")
    ] = "cancelled on request",
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Cancel a run: its running jobs stop (their process trees killed), the rest skip."""
    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            answer = api.post(remote.path("runs", run, "cancel"), {})
        how = answer.get("how", "requested") if isinstance(answer, dict) else "requested"
    else:
        from stageline.app import runs

        how = runs.cancel(Path.cwd(), run, reason=reason, database_url=database_url).how
    said = "cancelled" if how == "completed" else "asked to stop"
    print(f"run {run}: {said}", file=sys.stderr)
