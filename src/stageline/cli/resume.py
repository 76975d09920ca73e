"""`stageline resume RUN`: continue a run whose process stopped while a gate held it.

The run's recorded plan is run again under the same run id (`app.runs.resume`):
completed jobs keep their results, a waiting gate is re-entered with the decisions
recorded so far, the rest runs. Contexts a run gets from the command line (`--var`,
`--secret`, `--env`) are not recorded; give them again here, or keep them in
`.env`/`.secrets` as `stageline run` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli.options import DatabaseUrl, RunId


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
    database_url: DatabaseUrl = None,
) -> int:
    """Continue a run that was stopped while it waited (a gate, a bake window, a rollback)."""
    import sys

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
        database_url=database_url,
    )
    if finished.exit_code:
        raise typer.Exit(finished.exit_code)
    return 0


__all__ = ["resume"]
