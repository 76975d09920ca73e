"""A gate from a hold to a decision: N-of-M rules, teams, self-review, rejects, timeouts,
wait timer, reminders; then branch policy and auto_approve as the engine asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageline.deploy.config import ApprovalConfig, parse_config
from stageline.deploy.gates import (
    AUTO,
    POLICY,
    SERVER,
    SERVER_ONLY,
    TIMEOUT,
    Decision,
    GateRequest,
    auto_approves,
    evaluate_gate,
    expand,
    gate_state,
    review_refusal,
)
from stageline.errors import ExpressionError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEAMS = {"sre": ["dave", "erin"]}


def production(extra: str = "") -> ApprovalConfig:
    """The issue's production approval, plus `extra` keys."""
    config = parse_config(
        "teams: {sre: [dave, erin]}\n"
        "environments:\n"
        "  production:\n"
        "    approval:\n"
        "      rules:\n"
        "        - {reviewers: [alice, bob, carol], required: 2}\n"
        "        - {reviewers: ['@sre'], required: 1}\n"
        "      prevent_self_review: true\n"
        "      timeout: 24h\n"
        "      remind_every: 1h\n" + extra
    )
    approval = config.environments["production"].approval
    assert approval is not None
    return approval


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def gate(approval: ApprovalConfig, *decisions: Decision, now: float = 30, **kw: object):  # type: ignore[no-untyped-def]
    return evaluate_gate(
        approval,
        TEAMS,
        actor=str(kw.pop("actor", "alice")),
        requested_at=T0,
        now=at(now),
        decisions=decisions,
        **kw,  # type: ignore[arg-type]
    )


def approve(who: str, minute: float, comment: str | None = None) -> Decision:
    return Decision(who, "approve", at(minute), comment)


def reject(who: str, minute: float, comment: str | None = None) -> Decision:
    return Decision(who, "reject", at(minute), comment)


def test_pending_until_every_rule_is_met() -> None:
    approval = production()
    state = gate(approval)
    assert state.status == "pending"
    assert state.reason == ("waiting for approval: 0 of 2 from alice, bob, carol; 0 of 1 from @sre")
    state = gate(approval, approve("bob", 1), approve("dave", 2))
    assert state.status == "pending"
    assert state.reason == "waiting for approval: 1 of 2 from alice, bob, carol (approved: bob)"
    assert [rule.met for rule in state.rules] == [False, True]


def test_two_of_three_and_one_of_the_team_approve() -> None:
    state = gate(production(), approve("bob", 1), approve("erin", 2), approve("carol", 3))
    assert state.status == "approved"
    assert state.decided_by == ("bob", "erin", "carol")
    assert state.reason == "approved by bob, erin, carol"


def test_the_same_reviewer_twice_counts_once() -> None:
    state = gate(production(), approve("bob", 1), approve("bob", 2), approve("dave", 3))
    assert state.status == "pending"
    assert state.rules[0].approved_by == ("bob",)


def test_a_reviewer_not_on_a_rule_does_not_count() -> None:
    state = gate(production(), approve("mallory", 1), reject("mallory", 2))
    assert state.status == "pending"
    assert [i.reason for i in state.ignored] == [
        "mallory is not a reviewer of any approval rule",
        "mallory is not a reviewer of any approval rule",
    ]


def test_self_review_is_refused_but_self_reject_counts() -> None:
    approval = production()
    state = gate(approval, approve("alice", 1), approve("bob", 2), approve("dave", 3))
    assert state.status == "pending"
    (ignored,) = state.ignored
    assert ignored.reason == "alice triggered the run and self-review is not allowed"
    assert gate(approval, reject("alice", 1)).status == "rejected"
    allowed = production().__class__(approval.pos, rules=approval.rules, prevent_self_review=False)
    assert gate(allowed, approve("alice", 1), approve("bob", 2), approve("dave", 3)).status == (
        "approved"
    )


def test_any_eligible_reject_rejects() -> None:
    state = gate(production(), approve("bob", 1), approve("carol", 2), reject("erin", 3, "not now"))
    assert state.status == "rejected"
    assert state.decided_by == ("erin",) and state.comment == "not now"
    assert state.reason == "rejected by erin"
    assert state.wake_at is None


def test_timeout_rejects_by_default_and_ignores_late_decisions() -> None:
    approval = production()
    late = [approve("bob", 24 * 60 + 1), approve("carol", 24 * 60 + 2), approve("dave", 1)]
    state = gate(approval, *late, now=24 * 60 + 5)
    assert state.status == "rejected" and state.timed_out
    assert state.decided_by == (TIMEOUT,)
    assert state.reason == "timed out after 24h without approval"
    assert sorted(i.decision.reviewer for i in state.ignored) == ["bob", "carol"]
    # Just before the deadline it is still pending.
    assert gate(approval, now=24 * 60 - 1).status == "pending"


def test_timeout_may_approve() -> None:
    state = gate(production("      on_timeout: approve\n"), now=24 * 60)
    assert (state.status, state.decided_by, state.timed_out) == ("approved", (TIMEOUT,), True)


def test_auto_approve_is_recorded_as_auto() -> None:
    state = gate(production(), auto_approved=True)
    assert (state.status, state.decided_by) == ("approved", (AUTO,))


def test_wait_timer_holds_an_approved_gate() -> None:
    approval = production("      wait_timer: 10m\n")
    decisions = (approve("bob", 1), approve("carol", 2), approve("dave", 3))
    held = gate(approval, *decisions, now=5)
    assert held.status == "pending"
    assert held.wait_until == at(10) and held.wake_at == at(10)
    assert held.reason.endswith("wait timer until 2026-03-01T12:10:00+00:00")
    assert gate(approval, *decisions, now=10).status == "approved"
    # A reject does not wait for the timer.
    assert gate(approval, reject("bob", 1), now=2).status == "rejected"


def test_no_rules_needs_no_reviewer_and_no_config_is_approved() -> None:
    empty = ApprovalConfig(production().pos)
    assert gate(empty).status == "approved"
    assert evaluate_gate(None, {}, actor="x", requested_at=T0, now=T0).status == "approved"


@pytest.mark.parametrize(
    ("now", "due", "next_minute"),
    [
        (0, 0, 60),
        (59, 0, 60),
        (60, 1, 120),
        (150, 2, 180),
        (23 * 60 + 30, 23, None),  # the reminder at 24h would coincide with the timeout
    ],
)
def test_reminders(now: float, due: int, next_minute: float | None) -> None:
    state = gate(production(), now=now)
    assert state.reminders_due == due
    assert state.next_reminder_at == (at(next_minute) if next_minute is not None else None)
    expected_wake = at(next_minute) if next_minute is not None else at(24 * 60)
    assert state.wake_at == expected_wake


def test_expand_and_refusal() -> None:
    assert expand(["bob", "@sre", "dave", "@nobody"], TEAMS) == ("bob", "dave", "erin")
    approval = production()
    assert review_refusal(approval, TEAMS, actor="x", reviewer="dave", verdict="approve") is None
    assert review_refusal(approval, TEAMS, actor="dave", reviewer="dave", verdict="approve") == (
        "dave triggered the run and self-review is not allowed"
    )
    assert review_refusal(None, TEAMS, actor="x", reviewer="y", verdict="approve") == (
        "this environment requires no approval"
    )


def test_auto_approve_expression_over_the_run_contexts() -> None:
    text = "${{ needs.test.result == 'success' && github.ref == 'refs/heads/main' }}"
    passed = {"needs": {"test": {"result": "success"}}, "github": {"ref": "refs/heads/main"}}
    assert auto_approves(text, passed) is True
    on_branch = {**passed, "github": {"ref": "refs/heads/feature"}}
    assert auto_approves(text, on_branch) is False
    failed = {**passed, "needs": {"test": {"result": "failure"}}}
    assert auto_approves(text, failed) is False
    with pytest.raises(ExpressionError):
        auto_approves("${{ needs.test.result == }}", passed)


CONFIG = parse_config(
    """\
teams: {sre: [dave, erin]}
users: {alice@example.com: alice}
environments:
  staging:
  production:
    branches: [main, 'release/*']
    approval:
      rules:
        - {reviewers: [alice, bob, carol], required: 2}
        - {reviewers: ['@sre'], required: 1}
      prevent_self_review: true
      auto_approve: ${{ needs.test.result == 'success' && github.ref == 'refs/heads/main' }}
"""
)


def request(env: str, ref: str, result: str = "failure") -> GateRequest:
    contexts = {"needs": {"test": {"result": result}}, "github": {"ref": ref}}
    return GateRequest(env, ref, "alice", T0, contexts)


def test_an_unprotected_environment_opens() -> None:
    assert gate_state(CONFIG, request("staging", "refs/heads/x"), now=T0).status == "approved"
    assert gate_state(CONFIG, request("unknown", "refs/heads/x"), now=T0).status == "approved"


def test_the_branch_policy_refuses() -> None:
    state = gate_state(CONFIG, request("production", "refs/heads/feature/x"), now=T0)
    assert (state.status, state.decided_by) == ("rejected", (POLICY,))
    assert state.reason.startswith("branch 'feature/x' is not allowed to deploy")


def test_auto_approve_on_main_after_passing_tests() -> None:
    state = gate_state(CONFIG, request("production", "refs/heads/main", "success"), now=T0)
    assert (state.status, state.decided_by) == ("approved", ("auto",))
    # On a release branch the expression is false: reviewers decide.
    pending = gate_state(CONFIG, request("production", "refs/heads/release/2", "success"), now=T0)
    assert pending.status == "pending"
    decisions = [
        Decision("bob", "approve", T0 + timedelta(minutes=1)),
        Decision("carol", "approve", T0 + timedelta(minutes=2)),
        Decision("erin", "approve", T0 + timedelta(minutes=3)),
    ]
    done = gate_state(
        CONFIG,
        request("production", "refs/heads/release/2"),
        now=T0 + timedelta(minutes=4),
        decisions=decisions,
    )
    assert (done.status, done.decided_by) == ("approved", ("bob", "carol", "erin"))


def test_an_auto_approve_that_cannot_be_evaluated_rejects() -> None:
    broken = parse_config(
        "environments:\n  prod:\n    approval:\n"
        "      rules: [{reviewers: [a]}]\n      auto_approve: ${{ secrets.X == 'y' }}\n"
    )
    state = gate_state(broken, GateRequest("prod", "refs/heads/main", "a", T0, {}), now=T0)
    assert (state.status, state.decided_by) == ("rejected", (POLICY,))
    assert state.reason.startswith("auto_approve of environment 'prod' cannot be evaluated: ")
    assert "secrets" in state.reason


def _approval(text: str) -> ApprovalConfig:
    config = parse_config("environments:\n  production:\n    approval:\n" + text)
    approval = config.environments["production"].approval
    assert approval is not None
    return approval


ACTION = Decision(AUTO, "approve", at(1), "job approval")


def test_the_action_counts_nowhere_without_allow_action() -> None:
    approval = _approval("      rules: [{reviewers: [bob], required: 1}]\n")
    assert approval.allow_action is False
    state = gate(approval, action=ACTION)
    assert state.status == "pending"
    [ignored] = state.ignored
    assert ignored.decision == ACTION
    assert "approval.allow_action is false" in ignored.reason


def test_an_allowed_action_is_one_approver() -> None:
    approval = _approval(
        "      rules: [{reviewers: [bob, carol], required: 1}]\n      allow_action: true\n"
    )
    state = gate(approval, action=ACTION)
    assert state.status == "approved"
    assert state.decided_by == (AUTO,)
    assert state.reason == "approved by auto (hmarr/auto-approve-action, job approval)"
    two = _approval(
        "      rules: [{reviewers: [bob, carol], required: 2}]\n      allow_action: true\n"
    )
    assert gate(two, action=ACTION).status == "pending"  # one approver, not two
    both = gate(two, approve("bob", 2), action=ACTION)
    assert both.status == "approved"
    assert both.decided_by == ("bob", AUTO)


def test_the_action_is_never_the_authors_second_voice() -> None:
    approval = _approval(
        "      rules: [{reviewers: [alice, bob], required: 2}]\n      allow_action: true\n"
    )
    # alice started the run: her own approval and her run's action are one voice
    state = gate(approval, approve("alice", 2), action=ACTION, actor="alice")
    assert state.status == "pending"
    assert state.rules[0].approved_by == ("alice",)
    assert gate(approval, approve("alice", 2), approve("bob", 3), action=ACTION).status == (
        "approved"
    )


def test_the_action_never_passes_prevent_self_review() -> None:
    approval = production("      allow_action: true\n")  # required: 2 and prevent_self_review
    state = gate(approval, approve("bob", 2), approve("dave", 3), action=ACTION)
    assert state.status == "pending"
    assert state.rules[0].approved_by == ("bob",)
    [ignored] = state.ignored
    assert "self-review is not allowed" in ignored.reason


def test_where_server_counts_only_decisions_made_through_the_server() -> None:
    approval = _approval("      rules: [{reviewers: [bob], required: 1}]\n      where: server\n")
    assert approval.where == "server"
    local = gate(approval, approve("bob", 1))
    assert local.status == "pending"
    [ignored] = local.ignored
    assert ignored.reason == SERVER_ONLY
    remote = gate(approval, Decision("bob", "approve", at(1), via=SERVER))
    assert remote.status == "approved"
    # a local reject does not count either: nothing decided at a terminal does
    assert gate(approval, reject("bob", 1)).status == "pending"


def test_where_server_takes_no_action_approval() -> None:
    approval = _approval(
        "      rules: [{reviewers: [bob], required: 1}]\n"
        "      allow_action: true\n"
        "      where: server\n"
    )
    state = gate(approval, action=ACTION)
    assert state.status == "pending"
    [ignored] = state.ignored
    assert "no decision through the team server" in ignored.reason
