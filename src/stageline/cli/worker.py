"""`stageline worker`: take jobs from the broker's queues and run them for a team server
(ADR 0012).

Only Typer at module level; the command loads Celery and the runner, never the engine
or the store (a worker holds no state that matters).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from stageline.errors import ConfigError

TOKEN_ENV = "STAGELINE_TOKEN"


def worker(
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            envvar="STAGELINE_SERVER",
            help="The team server whose jobs to run, with a worker's token in "
            "$STAGELINE_TOKEN (default: $STAGELINE_SERVER).",
            show_default=False,
        ),
    ] = None,
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            metavar="URL",
            envvar="STAGELINE_BROKER",
            help="The Celery broker: redis://HOST:6379/0 or amqp://USER:PASSWORD@HOST:5672//.",
        ),
    ] = "redis://127.0.0.1:6379/0",
    queues: Annotated[
        str,
        typer.Option("--queues", metavar="Q1,Q2", help="The queues to take jobs from."),
    ] = "default",
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Jobs run at once.")
    ] = 2,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="This worker's name in the server's records (default: HOSTNAME-PID).",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            metavar="DIR",
            help="Clones of the repositories and the jobs' work dirs "
            "(default: ~/.cache/stageline/worker).",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Run jobs of a team server's runs on this machine (SIGTERM or Ctrl-C lets the
    running jobs end first)."""
    from stageline.worker.service import serve
    from stageline.worker.task import WorkerConfig, default_cache_dir, default_name

    if not server:
        raise ConfigError("`stageline worker` needs --server URL (or $STAGELINE_SERVER)")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"${TOKEN_ENV} is not set: a worker calls the server with a token",
            hint="create one for a user with the worker role: "
            "`stageline user add NAME --role worker`, then `stageline token create --user NAME`",
        )
    names = tuple(q.strip() for q in queues.split(",") if q.strip())
    if not names:
        raise ConfigError("--queues names no queue", hint="e.g. --queues default,gpu")
    config = WorkerConfig(
        server=server,
        token=token,
        name=name or default_name(),
        cache_dir=(cache_dir or default_cache_dir()).expanduser().resolve(),
        broker=broker,
        queues=names,
        concurrency=concurrency,
    )
    return serve(config)
