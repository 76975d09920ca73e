"""`stageline hook install BARE_REPO --server URL --repo NAME`: make pushes to a local
bare repository trigger the server (see `app.githook`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

#: Where the secret comes from when `--secret-file` is not given.
SECRET_ENV = "STAGELINE_WEBHOOK_SECRET"

app = typer.Typer(help="Git hooks that trigger the server.", no_args_is_help=True)


@app.command("install")
def install(
    bare_repo: Annotated[
        Path, typer.Argument(help="The bare repository pushes go to.", file_okay=False)
    ],
    server: Annotated[str, typer.Option(help="The server's URL, e.g. http://ci.local:8750.")],
    repo: Annotated[str, typer.Option(help="The repository's name on the server.")],
    secret_file: Annotated[
        Path | None,
        typer.Option(
            help="The repository's webhook secret (first line of FILE, as given to "
            f"`stageline repo add`; default: ${SECRET_ENV}).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a post-receive hook that reports every push to the server, signed."""
    from stageline.app.githook import install as write_hook
    from stageline.errors import ConfigError

    if secret_file is not None:
        try:  # its first line, as `stageline repo add --webhook-secret-file` reads it
            secret = (secret_file.read_text().splitlines() or [""])[0].strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read the secret file {secret_file}: {err}") from None
    else:
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise ConfigError(
                "the hook needs the repository's webhook secret",
                hint=f"--secret-file FILE (as given to `stageline repo add`), or ${SECRET_ENV}",
            )
    hook = write_hook(bare_repo.resolve(), server, repo, secret)
    print(f"installed {hook}: pushes to {bare_repo} trigger {repo} on {server}")
