"""The CLI's record operations on the team server's record (ADR 0011), for the API and
the web pages alike.

A server holds many repositories in one store; its runs record the repository's
mirror as their `repo_path` (`app.host`). So a repository's `Context` is its mirror
with `.stageline.yml` as committed at the mirror's HEAD, and a run's is the same
mirror with the file as of the run's commit: the rules a gate was opened under.

Who decides is the authenticated user (no ``--as``). The run's author, whom
``prevent_self_review`` keeps from approving, is the user the pushed commit's author
email maps to (`user add --email`), else the user who started the run. Every decision
and rollback, counted or not, goes to the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stageline.app import context, deploys, gates
from stageline.errors import ConfigError, RunError

if TYPE_CHECKING:
    from collections.abc import Callable

    from stageline.app.serverdata import ServerData
    from stageline.deploy.gates import Verdict
    from stageline.executors.base import Executor
    from stageline.store.server_records import RepoRow


class UnknownRepo(RunError):
    """No registered repository by that name (the API answers 404)."""


def repo(server: ServerData, name: str | None) -> RepoRow:
    """The registered repository `name`; None: the server's only one."""
    store = server.store.server
    if name is not None:
        found = store.get_repo(name)
        if found is None:
            raise UnknownRepo(f"no repository {name!r} is registered", hint="see /api/v1/repos")
        return found
    registered = store.list_repos()
    if len(registered) != 1:
        names = ", ".join(r.name for r in registered) or "none yet"
        raise ConfigError(
            "name the repository: the server has " + ("several" if registered else "none"),
            hint=f"pass repo=NAME (--repo); registered: {names}",
        )
    return registered[0]


def repo_context(server: ServerData, found: RepoRow) -> context.Context:
    """Repository `found`'s record, configured as its HEAD is."""
    config = context.config_at(found.mirror_path, "HEAD")
    return context.over(server.store, found.mirror_path, config)


def run_context(server: ServerData, run_id: int) -> context.Context:
    """The record run `run_id` is decided in, configured as of its commit."""
    found = server.store.runs.find_run(run_id)
    if found is None:
        raise RunError(f"no run {run_id} in the record", hint="see /api/v1/runs")
    config = context.config_at(found.repo_path, found.sha)
    return context.over(server.store, found.repo_path, config)


def run_author(server: ServerData, run_id: int) -> str | None:
    """Whose run `run_id` is: the user its commit's author email maps to, else the user
    who started it; None for a run the server did not start (see the module doc)."""
    store = server.store.server
    link = store.run_link(run_id)
    if link is None:
        return None
    user = store.user_for_email(link.author_email) if link.author_email else None
    return user.name if user is not None else link.started_by or None


def server_origin(user: str) -> dict[str, str]:
    """Where a decision through the server was made: by its authenticated `user`."""
    return {"via": "server", "user": user}


def decide(
    server: ServerData,
    run_id: int,
    verdict: Verdict,
    *,
    reviewer: str,
    environment: str | None = None,
    comment: str | None = None,
) -> gates.GateDecision:
    """`reviewer`'s `verdict` on the gate run `run_id` waits on, judged against the
    run's author (`gates.decide_in`) and audited whether it counts or not."""
    from stageline.app.accounts import audit

    ctx = run_context(server, run_id)
    author = run_author(server, run_id)
    detail: dict[str, object] = {"environment": environment, "comment": comment}
    try:
        done = gates.decide_in(
            ctx,
            run_id,
            verdict,
            reviewer=reviewer,
            author=author,
            environment=environment,
            comment=comment,
            origin=server_origin(reviewer),
        )
    except gates.NotCounted as refused:
        detail["refused"] = refused.message
        audit(server, reviewer, f"gate.{verdict}", str(run_id), detail)
        raise
    detail["environment"] = done.environment
    audit(server, reviewer, f"gate.{verdict}", str(run_id), {**detail, "effect": done.effect})
    return done


def rollback(
    server: ServerData,
    found: RepoRow,
    environment: str,
    *,
    to: int | None,
    who: str,
    executor: str | Executor | None = None,
    started: Callable[[int], None] | None = None,
) -> deploys.RolledBack:
    """Roll `environment` of repository `found` back (`deploys.rollback_in`) as `who`;
    audited, whether it succeeds or fails."""
    from stageline.app.accounts import audit

    ctx = repo_context(server, found)
    target = f"{found.name}:{environment}"
    try:
        done = deploys.rollback_in(
            ctx,
            environment,
            to=to,
            who=who,
            executor=executor,
            origin=server_origin(who),
            started=started,
        )
    except RunError as failed:
        audit(server, who, "environment.rollback", target, {"to": to, "failed": failed.message})
        raise
    audit(server, who, "environment.rollback", target, {"to": to, "reason": done.reason})
    return done


__all__ = [
    "UnknownRepo",
    "decide",
    "repo",
    "repo_context",
    "rollback",
    "run_author",
    "run_context",
    "server_origin",
]
