"""Options that several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

#: Which record a command writes or reads (`app.context.open`).
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="Record in this database instead of .stageline/stageline.db, e.g. "
        "postgresql+psycopg://user@host/db (default: $STAGELINE_DATABASE_URL).",
        show_default=False,
    ),
]

#: Where a run's jobs run on this machine (`app.runs.choose_executor`); $STAGELINE_EXECUTOR
#: is read there too, as `stageline run`'s fast path skips Typer.
ExecutorName = Annotated[
    str | None,
    typer.Option(
        "--executor",
        metavar="NAME",
        help="local, or sandbox: each job inside bubblewrap walls (see docs/sandbox.md); "
        "default: $STAGELINE_EXECUTOR, else executor: in .stageline.yml, else local.",
        show_default=False,
    ),
]


#: The largest id a record can have (a signed 64-bit integer in SQLite and PostgreSQL):
#: a larger one is a usage error, not an overflow in the store.
MAX_RECORD_ID = 2**63 - 1

#: A run's id, as `show`, `logs`, `approve`, `reject` and `resume` take it.
RunId = Annotated[
    int,
    typer.Argument(
        help="Run id (see `stageline runs`).", min=1, max=MAX_RECORD_ID, show_default=False
    ),
]

#: A team server to ask instead of the local record (`cli.remote`); the token is in
#: $STAGELINE_TOKEN, never on the command line (it would show in `ps` and the history).
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        envvar="STAGELINE_SERVER",
        help="Ask this Stageline server instead of the local record, with the token in "
        "$STAGELINE_TOKEN (default: $STAGELINE_SERVER).",
        show_default=False,
    ),
]

#: Which of a server's repositories a command is about.
Repo = Annotated[
    str | None,
    typer.Option(
        "--repo",
        metavar="NAME",
        envvar="STAGELINE_REPO",
        help="With --server: the registered repository (default: the server's only one; "
        "$STAGELINE_REPO).",
        show_default=False,
    ),
]
