"""An environment's gate, from a hold to a decision: pure functions, no clock, no I/O.

The engine's gatekeeper (`gatekeeper.EnvironmentGatekeeper`) opens one gate per run
and environment, records every decision (who, approve/reject, when, comment) in the
store and asks `gate_state` what the gate is now: the branch policy refuses at once;
otherwise the approval rules decide, with `auto_approve` evaluated over the run's
contexts. Another process's decision, a resume after a crash and a test are the same
call. `review_refusal` is the rule a decision from outside (`stageline approve`, the
server) is checked against before it is recorded.

The rules, where GitHub (one rule) and GitLab (several) informed them:

* every rule must be met; a rule is met when `required` distinct reviewers on it
  approved; ``@team`` expands to the team's members; one approval counts for every
  rule its reviewer is on;
* a decision by someone on no rule does not count (it is kept, with the reason);
* with `prevent_self_review`, the run's triggering actor cannot approve (rejecting
  is still allowed: stopping one's own deploy is always safe);
* any reject by a reviewer on a rule rejects the gate at once;
* `auto_approve` true approves the gate as ``auto``; one that cannot be evaluated
  rejects it (as ``policy``, like a branch the policy refuses): a gate never opens
  by mistake;
* the timeout counts from the request; when it passes undecided, `on_timeout`
  decides (as ``timeout``); decisions recorded after it do not count;
* the wait timer also counts from the request: an approved gate stays pending
  until it passes (a reject does not wait);
* with `where: server`, only decisions made through the team server (authenticated)
  count; one made at a terminal is kept with the reason;
* reminders are due every `remind_every` after the request while pending;
* an approval by `hmarr/auto-approve-action` (a job upstream of the deploy ran it)
  counts only where the environment opts in (`allow_action: true`), and then as one
  approver on every rule, speaking for the run's author: never with
  `prevent_self_review`, and never as a second voice beside the author's own approval.
  Otherwise it is kept with the reason it does not count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from stageline.deploy.branches import branch_refusal
from stageline.deploy.config import ApprovalConfig, ApprovalRule, StagelineConfig
from stageline.durations import format_duration
from stageline.errors import ExpressionError

Verdict = Literal["approve", "reject"]
GateStatus = Literal["pending", "approved", "rejected"]

#: The names recorded as deciders when no person decided: `auto_approve` (or
#: hmarr/auto-approve-action), `on_timeout`, and the branch policy or a broken `auto_approve`.
AUTO = "auto"
TIMEOUT = "timeout"
POLICY = "policy"
#: `Decision.via` of a decision authenticated through the team server.
SERVER = "server"
SERVER_ONLY = "approval.where is server: only decisions made through the team server count"


@dataclass(frozen=True, slots=True)
class Decision:
    """One recorded review. `at` is timezone-aware UTC; `via` where it was made
    (``server``: authenticated through the team server; else a terminal or a prompt)."""

    reviewer: str
    verdict: Verdict
    at: datetime
    comment: str | None = None
    via: str | None = None


@dataclass(frozen=True, slots=True)
class RuleProgress:
    reviewers: tuple[str, ...]
    required: int
    approved_by: tuple[str, ...]

    @property
    def met(self) -> bool:
        return len(self.approved_by) >= self.required

    def describe(self) -> str:
        who = ", ".join(self.reviewers)
        done = f" (approved: {', '.join(self.approved_by)})" if self.approved_by else ""
        return f"{len(self.approved_by)} of {self.required} from {who}{done}"


@dataclass(frozen=True, slots=True)
class IgnoredDecision:
    decision: Decision
    reason: str


@dataclass(frozen=True, slots=True)
class GateState:
    """Where a gate stands at `now`, and when it may change without a new decision."""

    status: GateStatus
    #: One sentence: what the gate waits for, or why it was decided.
    reason: str
    #: Who decided: the approvers that counted, the rejecting reviewer, AUTO or TIMEOUT.
    decided_by: tuple[str, ...] = ()
    comment: str | None = None
    timed_out: bool = False
    rules: tuple[RuleProgress, ...] = ()
    ignored: tuple[IgnoredDecision, ...] = ()
    wait_until: datetime | None = None
    expires_at: datetime | None = None
    #: How many reminders should have been sent by now (the engine sends the difference).
    reminders_due: int = 0
    next_reminder_at: datetime | None = None

    @property
    def wake_at(self) -> datetime | None:
        """The earliest time the state changes on its own (timer, timeout, reminder)."""
        if self.status != "pending":
            return None
        times = [t for t in (self.wait_until, self.expires_at, self.next_reminder_at) if t]
        return min(times) if times else None


def expand(reviewers: Sequence[str], teams: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Reviewer names with ``@team`` replaced by its members, each once, in order."""
    people: list[str] = []
    for reviewer in reviewers:
        members = teams.get(reviewer[1:], ()) if reviewer.startswith("@") else (reviewer,)
        people.extend(m for m in members if m not in people)
    return tuple(people)


def review_refusal(
    approval: ApprovalConfig | None,
    teams: Mapping[str, Sequence[str]],
    *,
    actor: str,
    reviewer: str,
    verdict: Verdict,
) -> str | None:
    """Why `reviewer`'s decision would not count, or None when it would.

    A decision from outside (`app.gates.decide`) is checked before it is recorded,
    to say so at once; `evaluate_gate` applies the same rule to what is recorded.
    """
    rules = approval.rules if approval else []
    if not rules:
        return "this environment requires no approval"
    if not any(reviewer in expand(rule.reviewers, teams) for rule in rules):
        return f"{reviewer} is not a reviewer of any approval rule"
    if verdict == "approve" and approval and approval.prevent_self_review and reviewer == actor:
        return f"{reviewer} triggered the run and self-review is not allowed"
    return None


def evaluate_gate(
    approval: ApprovalConfig | None,
    teams: Mapping[str, Sequence[str]],
    *,
    actor: str,
    requested_at: datetime,
    now: datetime,
    decisions: Sequence[Decision] = (),
    auto_approved: bool = False,
    action: Decision | None = None,
) -> GateState:
    """The gate's state at `now` given everything recorded since `requested_at`;
    `action`: the approval of an upstream `hmarr/auto-approve-action` (see module doc)."""
    if approval is None:
        return GateState("approved", "no approval required")
    wait_until = requested_at + approval.wait_timer if approval.wait_timer else None
    expires_at = requested_at + approval.timeout
    timing: dict[str, Any] = {"wait_until": wait_until, "expires_at": expires_at}

    counted, ignored = _sort_decisions(approval, teams, actor, decisions, expires_at)
    voice = None
    if action is not None:
        refusal = action_refusal(approval, action, expires_at)
        if refusal is None:
            voice = actor
        else:
            ignored += (IgnoredDecision(action, refusal),)
    progress = _progress(approval.rules, teams, counted, voice)
    rejection = next((d for d in counted if d.verdict == "reject"), None)
    if rejection:
        return GateState(
            "rejected",
            f"rejected by {rejection.reviewer}",
            (rejection.reviewer,),
            rejection.comment,
            rules=progress,
            ignored=ignored,
            **timing,
        )

    if auto_approved:
        decided: tuple[str, ...] = (AUTO,)
        reason = "approved automatically (auto_approve)"
    elif not approval.rules:
        decided, reason = (), "no reviewers required"
    elif all(rule.met for rule in progress):
        counting = {p for rule in progress for p in rule.approved_by}
        decided = tuple(dict.fromkeys(d.reviewer for d in counted if d.reviewer in counting))
        if AUTO in counting:
            decided += (AUTO,)
        reason = f"approved by {', '.join(decided)}"
        if AUTO in counting and action is not None:
            job = f", {action.comment}" if action.comment else ""
            reason += f" (hmarr/auto-approve-action{job})"
    elif now >= expires_at:
        waited = format_duration(approval.timeout)
        if approval.on_timeout == "reject":
            return GateState(
                "rejected",
                f"timed out after {waited} without approval",
                (TIMEOUT,),
                timed_out=True,
                rules=progress,
                ignored=ignored,
                **timing,
            )
        decided, reason = (TIMEOUT,), f"approved on timeout after {waited} (on_timeout: approve)"
    else:
        missing = "; ".join(rule.describe() for rule in progress if not rule.met)
        due, next_at = _reminders(approval.remind_every, requested_at, expires_at, now)
        return GateState(
            "pending",
            f"waiting for approval: {missing}",
            rules=progress,
            ignored=ignored,
            reminders_due=due,
            next_reminder_at=next_at,
            **timing,
        )

    timed_out = decided == (TIMEOUT,)
    if wait_until is not None and now < wait_until:
        return GateState(
            "pending",
            f"{reason}; wait timer until {wait_until.isoformat(timespec='seconds')}",
            decided,
            timed_out=timed_out,
            rules=progress,
            ignored=ignored,
            **timing,
        )
    return GateState(
        "approved", reason, decided, timed_out=timed_out, rules=progress, ignored=ignored, **timing
    )


def _sort_decisions(
    approval: ApprovalConfig,
    teams: Mapping[str, Sequence[str]],
    actor: str,
    decisions: Sequence[Decision],
    expires_at: datetime,
) -> tuple[list[Decision], tuple[IgnoredDecision, ...]]:
    """Split decisions (in time order) into those that count and those that don't."""
    counted: list[Decision] = []
    ignored: list[IgnoredDecision] = []
    for decision in sorted(decisions, key=lambda d: d.at):
        refusal = review_refusal(
            approval, teams, actor=actor, reviewer=decision.reviewer, verdict=decision.verdict
        )
        if refusal is None and decision.at > expires_at:
            refusal = "recorded after the approval timed out"
        if refusal is None and approval.where == "server" and decision.via != SERVER:
            refusal = SERVER_ONLY
        if refusal:
            ignored.append(IgnoredDecision(decision, refusal))
        else:
            counted.append(decision)
    return counted, tuple(ignored)


def action_refusal(approval: ApprovalConfig, action: Decision, expires_at: datetime) -> str | None:
    """Why an `hmarr/auto-approve-action` approval does not count, or None when it does."""
    refusal = action_not_allowed(approval)
    if refusal is not None:
        return refusal
    if action.at > expires_at:
        return "recorded after the approval timed out"
    return None


def action_not_allowed(approval: ApprovalConfig) -> str | None:
    """Why the environment's rules never count the action's approval, or None."""
    if not approval.allow_action:
        return "hmarr/auto-approve-action does not count here (approval.allow_action is false)"
    if approval.prevent_self_review:
        return (
            "hmarr/auto-approve-action speaks for the run's author, and self-review is not allowed"
        )
    if approval.where == SERVER:
        return "hmarr/auto-approve-action is no decision through the team server (where: server)"
    return None


def _progress(
    rules: Sequence[ApprovalRule],
    teams: Mapping[str, Sequence[str]],
    counted: list[Decision],
    voice: str | None = None,
) -> tuple[RuleProgress, ...]:
    """Each rule's approvers; `voice`: the author an allowed action approval speaks for,
    one approver on every rule unless the author's own approval already counts there."""
    approvers = list(dict.fromkeys(d.reviewer for d in counted if d.verdict == "approve"))
    result = []
    for rule in rules:
        eligible = expand(rule.reviewers, teams)
        approved = tuple(a for a in approvers if a in eligible)
        if voice is not None and voice not in approved:
            approved += (AUTO,)
        result.append(RuleProgress(tuple(rule.reviewers), rule.required, approved))
    return tuple(result)


def _reminders(
    every: timedelta | None, requested_at: datetime, expires_at: datetime, now: datetime
) -> tuple[int, datetime | None]:
    """(reminders due by now, when the next one falls) — none at or after the timeout."""
    if not every:
        return 0, None
    last = math.ceil((expires_at - requested_at) / every) - 1  # the last before expiry
    due = min(int((now - requested_at) // every), last)
    following = requested_at + every * (due + 1)
    return max(due, 0), following if following < expires_at else None


def auto_approves(expression: str, contexts: Mapping[str, Any]) -> bool:
    """Evaluate an environment's `auto_approve` over the run's contexts (needs, github,
    vars, ...) with `if:` semantics; raises ExpressionError for a bad expression."""
    from stageline.expressions import evaluate_condition

    return bool(evaluate_condition(expression, dict(contexts)))


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
    action: Decision | None = None,
) -> GateState:
    """Where the gate stands. A branch refusal, and an `auto_approve` that cannot be
    evaluated, reject (decided by POLICY): a gate never opens by mistake. `action`: an
    upstream `hmarr/auto-approve-action`'s approval (counted as `evaluate_gate` says)."""
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
        action=action,
    )


__all__ = [
    "AUTO",
    "POLICY",
    "SERVER",
    "SERVER_ONLY",
    "TIMEOUT",
    "Decision",
    "GateRequest",
    "GateState",
    "GateStatus",
    "IgnoredDecision",
    "RuleProgress",
    "Verdict",
    "action_not_allowed",
    "action_refusal",
    "auto_approves",
    "evaluate_gate",
    "expand",
    "gate_state",
    "review_refusal",
]
