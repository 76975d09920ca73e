"""`stageline approve` and `reject`: decide a waiting gate from any terminal.

The decision is recorded in the store with who, when and the comment; the run's
process (which polls its gate) acts on it (`app.gates.decide`). Who you are: ``--as``,
else ``STAGELINE_USER``, else git's ``user.email`` mapped under ``users:`` in
`.stageline.yml`. A decision that does not count (not a reviewer of any rule, or
your own run with ``prevent_self_review``) is still recorded, and the command says
why it does not count and exits 1.

A run paused by a monitor check waits on a *pause* gate: ``approve`` continues the
deployment, ``reject`` rolls it back (as ``stageline rollback ENV`` does).

With ``--server``, the decision is the token's user's (``--as`` is refused), and the
server judges it against the run's author.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stageline.cli.options import DatabaseUrl, Server

if TYPE_CHECKING:
    from stageline.deploy.gates import Verdict

_RunArg = Annotated[int, typer.Argument(help="Run id (see `stageline runs`).", show_default=False)]
_Env = Annotated[
    str | None,
    typer.Option("--env", help="The environment (needed when the run waits on several)."),
]
_As = Annotated[
    str | None,
    typer.Option("--as", help="Decide as this user (default: STAGELINE_USER, git user.email)."),
]
_Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why.")]


def approve(
    run: _RunArg,
    env: _Env = None,
    as_: _As = None,
    comment: _Comment = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Approve a run's deployment to an environment (or continue a paused one)."""
    _decide(run, env, as_, comment, "approve", database_url, server)


def reject(
    run: _RunArg,
    env: _Env = None,
    as_: _As = None,
    comment: _Comment = None,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Reject a run's deployment to an environment (or roll back a paused one)."""
    _decide(run, env, as_, comment, "reject", database_url, server)


def _decide(
    run: int,
    env: str | None,
    as_: str | None,
    comment: str | None,
    verdict: Verdict,
    database_url: str | None,
    server: str | None,
) -> None:
    if server:
        from stageline.cli import remote

        remote.refuse_as(as_)
        body = {"decision": verdict, "environment": env, "comment": comment}
        with remote.connect(server) as api:
            made = api.post(remote.path("runs", run, "approvals"), body)
        effect, reviewer = made["effect"], made["reviewer"]
        print(f"run {made['run_id']} → {made['environment']}: {effect} by {reviewer}")
        return

    from stageline.app import gates

    done = gates.decide(
        Path.cwd(),
        run,
        verdict,
        environment=env,
        as_=as_,
        comment=comment,
        database_url=database_url,
    )
    print(f"run {done.run_id} → {done.environment}: {done.effect} by {done.reviewer}")


__all__ = ["approve", "reject"]
