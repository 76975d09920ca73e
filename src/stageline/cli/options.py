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
