"""An environment's gate as the engine asks about it: branch policy, then approvals.

`gate_state` is the one call the engine's Gatekeeper hook needs before a job with
`environment: X` starts (and again whenever a decision is recorded or `wake_at`
passes): the branch policy refuses at once; otherwise the approval rules decide,
with `auto_approve` evaluated over the run's contexts. `resolve_reviewer` names
who is deciding from another terminal (``--as``, ``STAGELINE_USER``, git's
``user.email`` mapped under ``users:``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stageline.deploy.approvals import Decision, GateState, auto_approves, evaluate_gate
from stageline.deploy.branches import branch_refusal
from stageline.deploy.config import StagelineConfig
from stageline.errors import ConfigError, ExpressionError

#: The decider recorded when the branch policy or a broken auto_approve refuses.
POLICY = "policy"


@dataclass(frozen=True, slots=True)
class GateRequest:
    """A run asking to deploy to `environment`; `requested_at` is when the gate opened."""

    environment: str
    ref: str
    actor: str
    requested_at: datetime
    #: The run's expression contexts (github, needs, vars, inputs, ...) for auto_approve.
    contexts: Mapping[str, Any] = field(default_factory=dict)


def gate_state(
    config: StagelineConfig,
    request: GateRequest,
    *,
    now: datetime,
    decisions: Sequence[Decision] = (),
) -> GateState:
    """Where the gate stands. A branch refusal, and an `auto_approve` that cannot be
    evaluated, reject (decided by POLICY): a gate never opens by mistake."""
    env = config.environment(request.environment)
    refusal = branch_refusal(env.branches, request.ref)
    if refusal:
        return GateState("rejected", refusal, (POLICY,))
    auto = False
    if env.approval is not None and env.approval.auto_approve:
        try:
            auto = auto_approves(env.approval.auto_approve, request.contexts)
        except ExpressionError as err:
            reason = f"auto_approve of environment '{env.name}' cannot be evaluated: {err.message}"
            return GateState("rejected", reason, (POLICY,))
    return evaluate_gate(
        env.approval,
        config.teams,
        actor=request.actor,
        requested_at=request.requested_at,
        now=now,
        decisions=decisions,
        auto_approved=auto,
    )


def resolve_reviewer(
    config: StagelineConfig,
    *,
    explicit: str | None,
    environ: Mapping[str, str],
    git_email: str | None,
) -> str:
    """Who is deciding: ``--as``, else ``STAGELINE_USER``, else git's user.email mapped
    under ``users:`` in `.stageline.yml`."""
    if explicit:
        return explicit
    if environ.get("STAGELINE_USER"):
        return environ["STAGELINE_USER"]
    if git_email:
        user = config.user_for_email(git_email)
        if user:
            return user
        raise ConfigError(
            f"git user.email {git_email} is not mapped to a user",
            hint=f"add users: {{{git_email}: <name>}} to .stageline.yml, or pass --as NAME",
        )
    raise ConfigError(
        "cannot tell who you are",
        hint="pass --as NAME, set STAGELINE_USER, or map git's user.email under users: "
        "in .stageline.yml",
    )


__all__ = ["POLICY", "GateRequest", "gate_state", "resolve_reviewer"]
