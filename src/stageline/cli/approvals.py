"""`stageline approve` and `reject`: decide a waiting gate from any terminal.

The decision is recorded in the store with who, when and the comment; the run's
process (which polls its gate) acts on it. Who you are: ``--as``, else
``STAGELINE_USER``, else git's ``user.email`` mapped under ``users:`` in
`.stageline.yml`. A decision that does not count (not a reviewer of any rule, or
your own run with ``prevent_self_review``) is still recorded, and the command says
why it does not count and exits 1.

A run paused by a monitor check waits on a *pause* gate: ``approve`` continues the
deployment, ``reject`` rolls it back (as ``stageline rollback ENV`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stageline.deploy.config import StagelineConfig
    from stageline.store import Store

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


@dataclass(slots=True)
class Repo:
    root: Path
    store: Store
    config: StagelineConfig


@contextmanager
def open_repo() -> Iterator[Repo]:
    """The repository you stand in, its store (which must exist) and `.stageline.yml`."""
    from stageline.deploy.config import load_config
    from stageline.engine.gitinfo import git
    from stageline.errors import RunError
    from stageline.store import has_record, open_store, store_home

    cwd = Path.cwd()
    top = git(cwd, "rev-parse", "--show-toplevel")
    root = Path(top) if top else cwd
    home = store_home(root)
    if not has_record(home):
        raise RunError(
            f"no runs recorded yet (no store at {home})", hint="start one: stageline run"
        )
    config = load_config(root)
    with open_store(home) as store:
        yield Repo(root, store, config)


def approve(run: _RunArg, env: _Env = None, as_: _As = None, comment: _Comment = None) -> None:
    """Approve a run's deployment to an environment (or continue a paused one)."""
    decide(run, env, as_, comment, "approve")


def reject(run: _RunArg, env: _Env = None, as_: _As = None, comment: _Comment = None) -> None:
    """Reject a run's deployment to an environment (or roll back a paused one)."""
    decide(run, env, as_, comment, "reject")


def decide(run: int, env: str | None, as_: str | None, comment: str | None, verdict: str) -> None:
    from stageline.deploy.approvals import review_refusal
    from stageline.deploy.identity import who_am_i
    from stageline.errors import ConfigError, RunError
    from stageline.store import deployments as store_deploys

    with open_repo() as repo:
        found = store_deploys.find_run(repo.store, run)
        if found is None:
            raise RunError(f"no run {run} in the record", hint="see `stageline runs`")
        gates = store_deploys.gates_of_run(repo.store, found.id, status="pending")
        if env is not None:
            gates = [g for g in gates if g.environment == env]
        if not gates:
            where = f" for environment '{env}'" if env else ""
            raise RunError(
                f"run {found.id} is not waiting for a decision{where}",
                hint=f"it is {found.status}"
                + (f": {found.waiting_for}" if found.waiting_for else ""),
            )
        names = sorted({g.environment for g in gates})
        if len(names) > 1:
            raise ConfigError(
                f"run {found.id} waits on several environments: {', '.join(names)}",
                hint="name one with --env",
            )
        gate = gates[0]
        reviewer = who_am_i(repo.config, str(repo.root), as_)
        refusal = None
        if gate.kind == "approval":
            rules = repo.config.environment(gate.environment).approval
            refusal = review_refusal(
                rules,
                repo.config.teams,
                actor=gate.actor or found.actor,
                reviewer=reviewer,
                verdict=verdict,  # type: ignore[arg-type]
            )
        store_deploys.record_decision(
            repo.store, found.id, gate.id, reviewer, verdict, comment=comment
        )
        if refusal:
            raise ConfigError(
                f"{reviewer}'s {verdict} of run {found.id} for {gate.environment} was recorded "
                f"but does not count: {refusal}",
                hint="reviewers are listed under approval.rules in .stageline.yml",
            )
    done = {
        ("approval", "approve"): "approved",
        ("approval", "reject"): "rejected",
        ("pause", "approve"): "continued (pause lifted)",
        ("pause", "reject"): "rolling back (pause rejected)",
    }[(gate.kind, verdict)]
    print(f"run {found.id} → {gate.environment}: {done} by {reviewer}")


__all__ = ["Repo", "approve", "decide", "open_repo", "reject"]
