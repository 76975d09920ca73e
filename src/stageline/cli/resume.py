"""`stageline resume RUN`: continue a run whose process stopped while a gate held it.

The run's recorded plan is run again under the same run id (`app.runs.resume`):
completed jobs keep their results, a waiting gate is re-entered with the decisions
recorded so far, the rest runs. Contexts a run gets from the command line (`--var`,
`--secret`, `--env`) are not recorded; give them again here, or keep them in
`.env`/`.secrets` as `stageline run` reads them.

With ``--server``, the server's run host resumes the run, and its logs are followed
here until it ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli.options import DatabaseUrl, ExecutorName, RunId, Server


def resume(
    run: RunId,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="`vars` entry KEY=VALUE (repeatable).")
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Secret KEY=VALUE (repeatable).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Extra environment variable KEY=VALUE (repeatable)."),
    ] = None,
    executor: ExecutorName = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> int:
    """Continue a run that was stopped while it waited (a gate, a bake window, a rollback)."""
    import sys

    if server:
        return _resume_remote(server, run, given=bool(var or secret or env))

    from stageline.app import runs
    from stageline.engine.lineprinter import LinePrinter
    from stageline.engine.setup import parse_pairs

    finished = runs.resume(
        Path.cwd(),
        run,
        vars=parse_pairs(var or [], "--var"),
        secrets=parse_pairs(secret or [], "--secret"),
        env=parse_pairs(env or [], "--env"),
        observer_for=lambda spec: LinePrinter(sys.stdout),
        prompt=True,
        say=lambda text: print(text, file=sys.stderr, flush=True),
        executor=executor,
        database_url=database_url,
    )
    if finished.exit_code:
        raise typer.Exit(finished.exit_code)
    return 0


def _resume_remote(server: str, run: int, *, given: bool) -> int:
    """Ask the server to resume `run`, then follow its logs; 1 when it did not succeed."""
    import sys

    from stageline.cli import remote
    from stageline.cli.records import print_remote_logs

    if given:
        raise remote.RemoteError(
            "--var, --secret and --env cannot be given to a run on a server",
            hint="the server gives its runs what their repository's .env and .secrets hold",
        )
    with remote.connect(server) as api:
        api.post(remote.path("runs", run, "resume"), {})
        print(f"resuming run {run}", file=sys.stderr, flush=True)
        print_remote_logs(api, run, None, follow=True)
        document = api.get(remote.path("runs", run))
    return 0 if document["conclusion"] == "success" else 1


__all__ = ["resume"]
