"""`stageline secret set|list|rm`: the secrets store (`app.secrets`).

The value is read from stdin, never from the command line (it would show in `ps` and
the shell's history): ``printf %s "$TOKEN" | stageline secret set DEPLOY_TOKEN --env
production``. `list` shows names only; no command ever prints a value.

Locally a secret belongs to the repository you are in. ``--repo NAME`` names a
repository registered on the team server: with ``--server`` through its API (an
admin's token), else straight in the store ``--database-url`` names.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stageline.cli.options import DatabaseUrl, Repo, Server

if TYPE_CHECKING:
    from stageline.cli.remote import Remote
    from stageline.store import Store

app = typer.Typer(
    help="Secrets jobs get as ${{ secrets.NAME }}, encrypted at rest (set, list, rm).",
    no_args_is_help=True,
)

_Name = Annotated[str, typer.Argument(help="The secret's name (stored upper-case).")]
_Env = Annotated[
    str | None,
    typer.Option(
        "--env",
        metavar="ENVIRONMENT",
        help="An environment's secret: jobs get it only once its gate passed.",
        show_default=False,
    ),
]


@app.command("set")
def set_(
    name: _Name,
    env: _Env = None,
    repo: Repo = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Set a secret to the value read from stdin (one trailing newline dropped)."""
    from stageline.app import secrets

    if sys.stdin.isatty():
        print(f"Value of {name.upper()} (then Enter, Ctrl-D):", file=sys.stderr)
    value = secrets.read_value(sys.stdin.buffer.read())
    where = f"environment '{env}'" if env else "the repository"
    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            target = _remote_repo(api, repo)
            made = api.put(remote.path("repos", target, "secrets", name), _body(value, env))
        verb = "added" if made["created"] else "updated"
        print(f"secret {made['name']} {verb} for {where} of {target} on {server}")
        return
    with _opened(database_url) as (store, scope):
        created = secrets.set_secret(store, scope if repo is None else repo, name, value, env)
        where_key = store.secrets.key_location
    verb = "added" if created else "updated"
    print(f"secret {name.upper()} {verb} for {where} (encrypted; key: {where_key})")


@app.command("list")
def list_(
    repo: Repo = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """The repository's secrets: names, environments and when each was set (never values)."""
    from stageline.cli.tables import print_table

    rows: list[tuple[str, str, str]] = []
    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            documents = api.get(remote.path("repos", _remote_repo(api, repo), "secrets"))
        rows = [(d["name"], d["environment"] or "-", d["updated_at"]) for d in documents]
    else:
        from stageline.app import secrets

        with _opened(database_url) as (store, scope):
            found = secrets.list_secrets(store, scope if repo is None else repo)
        rows = [
            (s.name, s.environment or "-", s.created_at.isoformat(timespec="seconds"))
            for s in found
        ]
    if not rows:
        print("no secrets")
        return
    print_table(["NAME", "ENVIRONMENT", "UPDATED"], rows)


@app.command("rm")
def rm(
    name: _Name,
    env: _Env = None,
    repo: Repo = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Remove a secret (of `--env ENVIRONMENT`, else the repository's own)."""
    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            target = _remote_repo(api, repo)
            api.delete(remote.path("repos", target, "secrets", name), environment=env)
    else:
        from stageline.app import secrets

        with _opened(database_url) as (store, scope):
            secrets.remove_secret(store, scope if repo is None else repo, name, env)
    print(f"secret {name.upper()} removed" + (f" from environment '{env}'" if env else ""))


def _body(value: str, env: str | None) -> dict[str, str | None]:
    return {"value": value, "environment": env}


@contextmanager
def _opened(database_url: str | None) -> Iterator[tuple[Store, str]]:
    """The record of the repository here (created if need be) and its scope."""
    from stageline.app import context
    from stageline.app.secrets import local_scope

    with context.open(Path.cwd(), database_url, create=True) as ctx:
        yield ctx.store, local_scope(ctx)


def _remote_repo(api: Remote, repo: str | None) -> str:
    """`repo`, else the server's only registered repository."""
    if repo:
        return repo
    from stageline.errors import ConfigError

    names = [str(r["name"]) for r in api.get("/repos")]
    if len(names) != 1:
        raise ConfigError(
            "name the repository: the server has "
            + (f"{len(names)}: {', '.join(names)}" if names else "none"),
            hint="pass --repo NAME",
        )
    return names[0]


__all__ = ["app"]
