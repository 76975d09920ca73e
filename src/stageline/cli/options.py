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
