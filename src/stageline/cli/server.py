"""`stageline serve`, `repo add`, `user add`, `token create`: the team server and its
store, named by `--data-dir`/`--database-url` (ADR 0011).

FastAPI and uvicorn load inside `serve` only: the other commands, and `--help`, stay
as quick as the rest of the CLI.
"""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from stageline.cli.options import DatabaseUrl

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="The server's data dir (default: $STAGELINE_DATA_DIR, else ./.stageline-server).",
        show_default=False,
    ),
]

repo_app = typer.Typer(help="Repositories the server runs (add).", no_args_is_help=True)
user_app = typer.Typer(help="Users of the server (add).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (create).", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8750,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="Where jobs run: local (this machine; a repository whose .stageline.yml "
            "says executor: sandbox gets bubblewrap walls), sandbox (this machine, every job "
            "walled) or celery (workers, through a broker).",
        ),
    ] = "local",
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            metavar="URL",
            help="With --executor celery: the broker (default redis://127.0.0.1:6379/0; "
            "amqp://... for RabbitMQ).",
            show_default=False,
        ),
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            metavar="LABEL=QUEUE",
            help="With --executor celery: send jobs whose runs-on has LABEL (a pattern: "
            "gpu-*) to QUEUE (repeatable).",
        ),
    ] = None,
    retry_lost_jobs: Annotated[
        bool,
        typer.Option("--retry-lost-jobs", help="Send a job whose worker was lost once more."),
    ] = False,
    no_worker_timeout: Annotated[
        float,
        typer.Option(
            "--no-worker-timeout",
            metavar="S",
            min=0,
            help="Fail a job no live worker serves after this many seconds.",
        ),
    ] = 600.0,
) -> int:
    """Run the team server: API, web UI, webhooks and the runs they start (SIGTERM
    stops it gracefully)."""
    import uvicorn

    from stageline.app.dispatch import DispatchSettings, parse_queue_map
    from stageline.app.serverdata import default_data_dir, open_server
    from stageline.errors import ConfigError
    from stageline.server.app import ServerSettings, create_app
    from stageline.worker.protocol import DEFAULT_BROKER

    if executor not in ("local", "sandbox", "celery"):
        raise ConfigError(f"unknown executor {executor!r}", hint="use local, sandbox or celery")
    if executor == "sandbox":
        from stageline.executors.sandbox import require

        require()  # no bubblewrap, user namespaces or pids cgroup: say so before serving
    if executor != "celery" and (broker or queue or retry_lost_jobs):
        raise ConfigError(
            "--broker, --queue and --retry-lost-jobs need --executor celery",
            hint="stageline serve --executor celery --broker URL",
        )
    dispatch = DispatchSettings(
        broker=broker or DEFAULT_BROKER,
        queues=parse_queue_map(queue or []),
        retry_lost_jobs=retry_lost_jobs,
        no_worker_timeout=no_worker_timeout,
    )

    where = data_dir.expanduser().resolve() if data_dir else default_data_dir()
    with open_server(where, database_url) as server:  # a bad URL or dir fails here, in one line
        record = server.store.where

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # listening: say where (the port chosen, for --port 0)
                bound = self.servers[0].sockets[0].getsockname()
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                print(f"stageline server listening on http://{shown}:{bound[1]}", flush=True)
                print(f"  data dir {where}, record {record}", flush=True)
                if executor == "celery":
                    print(f"  jobs go to workers through {_shown(dispatch.broker)}", flush=True)

    settings = ServerSettings(
        data_dir=where, database_url=database_url, executor=executor, dispatch=dispatch
    )
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="warning", access_log=False
    )
    served = Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again
    # to the handler it found: ours ends the command with exit code 0
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        served.run()
    except _Stopped as stop:
        print(f"stageline server stopped ({signal.Signals(stop.signum).name})", flush=True)
        return 0
    except SystemExit:  # it could not listen; uvicorn said why, in one line
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if served.started else 1


def _shown(url: str) -> str:
    """A broker URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


@repo_app.command("add")
def repo_add(
    name: Annotated[str, typer.Argument(help="The repository's name on the server.")],
    url: Annotated[
        str,
        typer.Option("--url", help="A local path, file:// or https:// URL.", show_default=False),
    ],
    webhook_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--webhook-secret-file",
            metavar="FILE",
            help="The secret webhooks are signed with (first line of FILE).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register a repository: the server mirrors it and runs its workflows on pushes."""
    from stageline.app import repos
    from stageline.app.serverdata import open_server
    from stageline.errors import ConfigError

    secret = None
    if webhook_secret_file is not None:
        try:
            secret = webhook_secret_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise ConfigError(f"cannot read a secret from {webhook_secret_file}: {err}") from err
    with open_server(data_dir, database_url) as server:
        repo = repos.add_repo(server, name, url, secret, by="cli")
    print(f"added repository {repo.name} ({repo.url}), mirrored at {repo.mirror_path}")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[
        str,
        typer.Option("--role", help="viewer, developer, reviewer or admin.", show_default=False),
    ],
    email: Annotated[
        list[str] | None,
        typer.Option(
            "--email", metavar="E", help="A commit author email of the user (repeatable)."
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user (without --password-stdin, one who signs in with tokens only)."""
    from stageline.app import accounts
    from stageline.app.serverdata import open_server
    from stageline.errors import ConfigError

    chosen = accounts.Role.parse(role)
    password = None
    if password_stdin:
        lines = sys.stdin.read().splitlines()
        password = lines[0] if lines else ""
        if not password:
            raise ConfigError("no password on stdin", hint="echo 'secret' | stageline user add ...")
    with open_server(data_dir, database_url) as server:
        user = accounts.add_user(server, name, chosen, email or [], password, by="cli")
    emails = f" <{', '.join(user.emails)}>" if user.emails else ""
    print(f"added {user.role} {user.name}{emails}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="Whose token.", show_default=False)],
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 30d, 12h, ... or never.")
    ] = "30d",
    name: Annotated[str, typer.Option("--name", help="A label for the token.")] = "cli",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from stageline.app import accounts
    from stageline.app.serverdata import open_server
    from stageline.errors import RunError

    with open_server(data_dir, database_url) as server:
        found = server.store.server.get_user(user)
        if found is None:
            raise RunError(f"no user named {user!r}", hint="add one: stageline user add")
        plaintext, row = accounts.create_token(server, found, name, expires, by="cli")
    until = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "never"
    print(f"token {row.id} for {found.name}, expires {until}; it is shown only this once:")
    print(plaintext)
