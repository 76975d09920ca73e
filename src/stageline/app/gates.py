"""Deciding a waiting gate from outside the run's process (a terminal, the server).

The decision is recorded with who, when and the comment; the run's process (which
polls its gate) acts on it. A run waits on one gate per environment: an *approval*
gate before a deploy, or a *pause* gate when a monitor check paused its bake window
(approve continues the deployment, reject rolls it back). A decision that does not
count (not a reviewer of any rule, or one's own run with ``prevent_self_review``) is
still recorded, and `decide` then raises saying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app import context
from stageline.errors import ConfigError, RunError

if TYPE_CHECKING:
    from datetime import datetime

    from stageline.deploy.config import StagelineConfig
    from stageline.deploy.gates import Verdict
    from stageline.store import Store
    from stageline.store.deploy_records import DeploymentRow, GateRow
    from stageline.store.records import RunInfo


class NotCounted(ConfigError):
    """A decision that was recorded but does not count (not a reviewer of any rule, or
    one's own run with ``prevent_self_review``)."""


class ServerOnly(ConfigError):
    """A local decision on a gate whose environment has ``approval.where: server``: it
    is refused, not recorded."""


#: What a verdict does, by the kind of gate it decides.
EFFECTS = {
    ("approval", "approve"): "approved",
    ("approval", "reject"): "rejected",
    ("pause", "approve"): "continued (pause lifted)",
    ("pause", "reject"): "rolling back (pause rejected)",
}


@dataclass(frozen=True, slots=True)
class GateDecision:
    """A decision that was recorded and counts."""

    run_id: int
    environment: str
    #: ``approval`` or ``pause``.
    kind: str
    verdict: Verdict
    reviewer: str
    #: What it does to the run, one phrase (see `EFFECTS`).
    effect: str


def decide(
    repo_dir: str | Path,
    run: int,
    verdict: Verdict,
    *,
    environment: str | None = None,
    as_: str | None = None,
    comment: str | None = None,
    database_url: str | None = None,
) -> GateDecision:
    """Record `verdict` on the gate run `run` waits on (see `decide_in`), as `as_` or the
    user this process runs as (`deploy.reviewers.who_am_i`)."""
    from stageline.deploy.reviewers import who_am_i

    with context.open(repo_dir, database_url) as ctx:
        reviewer = who_am_i(ctx.config, str(ctx.root), as_)
        return decide_in(
            ctx, run, verdict, reviewer=reviewer, environment=environment, comment=comment
        )


def refuse_local(config: StagelineConfig, environment: str, made: Mapping[str, object]) -> None:
    """Raise `ServerOnly` when `environment` takes decisions only through the team server
    (``approval.where: server``) and `made` (a decision's origin) is not the server's:
    for every decision on its gates, `approve`/`reject` and `rollback` of a pause alike."""
    from stageline.deploy.gates import SERVER

    approval = config.environment(environment).approval
    if approval is not None and approval.where == SERVER and made.get("via") != SERVER:
        raise ServerOnly(
            f"environment '{environment}' takes decisions only through the team server "
            "(approval.where: server); this one was not recorded",
            hint="decide with --server URL (your token in $STAGELINE_TOKEN), or in the web UI",
        )


def decide_in(
    ctx: context.Context,
    run: int,
    verdict: Verdict,
    *,
    reviewer: str,
    author: str | None = None,
    environment: str | None = None,
    comment: str | None = None,
    origin: Mapping[str, str] | None = None,
) -> GateDecision:
    """Record `reviewer`'s `verdict` on the gate run `run` (its number in the
    repository, else its id) waits on; `environment` chooses when it waits on several.

    `origin` is recorded with the decision (the gate's `data`): where it was made. The
    server passes ``{"via": "server", ...}`` for its authenticated users; by default it
    is this terminal's (`deploy.reviewers.local_origin`: the OS user and git's identity,
    whatever ``--as`` said). An environment with ``approval.where: server`` refuses any
    other (`ServerOnly`), on its approval and pause gates alike.

    The approval rules judge `reviewer` against the run's author: who the gate or the
    run records as its actor, which is what the run's own process judges by, so a
    decision that does not count is recorded all the same (the record shows who tried),
    then `NotCounted` says why. An `author` given apart from the record (the server
    knows the commit's author) may differ from what the run judges by: then a decision
    that does not count is not recorded at all, or the run could count it.
    """
    from stageline.deploy.gates import review_refusal
    from stageline.deploy.reviewers import local_origin

    found = ctx.store.runs.find_run(run)
    if found is None:
        raise RunError(f"no run {run} in the record", hint="see `stageline runs`")
    pending = ctx.store.deployments.gates_of_run(found.id, status="pending")
    gate = gate_to_decide(found, pending, environment)
    made = dict(origin) if origin is not None else local_origin(str(ctx.root))
    refuse_local(ctx.config, gate.environment, made)
    refusal = None
    if gate.kind == "approval":
        config = ctx.config
        refusal = review_refusal(
            config.environment(gate.environment).approval,
            config.teams,
            actor=author or gate.actor or found.actor,
            reviewer=reviewer,
            verdict=verdict,
        )
    recorded = refusal is None or author is None
    if recorded:
        ctx.store.deployments.record_decision(
            found.id, gate.id, reviewer, verdict, comment=comment, data=made
        )
    if refusal:
        kept = "was recorded but " if recorded else ""
        raise NotCounted(
            f"{reviewer}'s {verdict} of run {found.id} for {gate.environment} {kept}"
            f"does not count: {refusal}",
            hint="reviewers are listed under approval.rules in .stageline.yml",
        )
    effect = EFFECTS[(gate.kind, verdict)]
    return GateDecision(found.id, gate.environment, gate.kind, verdict, reviewer, effect)


@dataclass(frozen=True, slots=True)
class DecisionView:
    """A recorded decision as `show` and `deployments` print it."""

    environment: str
    #: ``approval`` or ``pause``.
    kind: str
    reviewer: str
    verdict: str
    at: datetime
    comment: str | None
    #: Where it was made (`deploy.reviewers.describe_origin`): the OS user and git
    #: identity of a terminal, or the server; '' when not recorded.
    origin: str
    #: The same as recorded (`deploy.reviewers.origin_fields`), for `--json`.
    made: dict[str, str | None]


def decisions_in(ctx: context.Context, run_id: int) -> list[DecisionView]:
    """Every decision on run `run_id`'s gates, oldest first."""
    return decisions_of(ctx.store, run_id)


def decisions_of(store: Store, run_id: int) -> list[DecisionView]:
    """`decisions_in` over an open store (the server's)."""
    from stageline.deploy.reviewers import describe_origin, origin_fields

    found: list[DecisionView] = []
    for gate in store.deployments.gates_of_run(run_id):
        for row in store.deployments.decisions(gate.id):
            found.append(
                DecisionView(
                    gate.environment,
                    gate.kind,
                    row.reviewer,
                    row.verdict,
                    row.at,
                    row.comment,
                    describe_origin(row.data),
                    origin_fields(row.data),
                )
            )
    return sorted(found, key=lambda view: view.at)


def run_decisions(
    repo_dir: str | Path, run_id: int, *, database_url: str | None = None
) -> list[DecisionView]:
    with context.open(repo_dir, database_url) as ctx:
        return decisions_in(ctx, run_id)


def approval_origins(
    repo_dir: str | Path, deployments: Sequence[DeploymentRow], *, database_url: str | None = None
) -> dict[int, dict[str, str]]:
    """For each deployment, where each of its approvers decided (reviewer → origin)."""
    with context.open(repo_dir, database_url) as ctx:
        by_run: dict[int, list[DecisionView]] = {}
        origins: dict[int, dict[str, str]] = {}
        for row in deployments:
            if row.run_id is None or not row.approved_by:
                continue
            if row.run_id not in by_run:
                by_run[row.run_id] = decisions_in(ctx, row.run_id)
            origins[row.id] = {
                view.reviewer: view.origin
                for view in by_run[row.run_id]
                if view.environment == row.environment
                and view.kind == "approval"
                and view.verdict == "approve"
                and view.reviewer in row.approved_by
                and view.origin
            }
        return origins


def gate_to_decide(run: RunInfo, pending: Sequence[GateRow], environment: str | None) -> GateRow:
    """The one pending gate a decision on `run` applies to: the only one, or the one of
    `environment`. Raises when there is none, or several and no `environment`."""
    gates = [g for g in pending if environment is None or g.environment == environment]
    if not gates:
        where = f" for environment '{environment}'" if environment else ""
        raise RunError(
            f"run {run.id} is not waiting for a decision{where}",
            hint=f"it is {run.status}" + (f": {run.waiting_for}" if run.waiting_for else ""),
        )
    names = sorted({g.environment for g in gates})
    if len(names) > 1:
        raise ConfigError(
            f"run {run.id} waits on several environments: {', '.join(names)}",
            hint="name one with --env",
        )
    return gates[0]


__all__ = [
    "EFFECTS",
    "DecisionView",
    "GateDecision",
    "NotCounted",
    "ServerOnly",
    "approval_origins",
    "decide",
    "decide_in",
    "decisions_in",
    "decisions_of",
    "gate_to_decide",
    "refuse_local",
    "run_decisions",
]
