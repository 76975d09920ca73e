"""The gate as the engine asks about it: policy, auto-approve, reviewers; and who is deciding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageline.deploy.approvals import Decision
from stageline.deploy.config import parse_config
from stageline.deploy.gates import POLICY, GateRequest, gate_state, resolve_reviewer
from stageline.errors import ConfigError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
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


def test_resolve_reviewer() -> None:
    git = "Alice@Example.com"
    assert (
        resolve_reviewer(CONFIG, explicit="bob", environ={"STAGELINE_USER": "x"}, git_email=git)
        == "bob"
    )
    assert (
        resolve_reviewer(CONFIG, explicit=None, environ={"STAGELINE_USER": "x"}, git_email=git)
        == "x"
    )
    assert resolve_reviewer(CONFIG, explicit=None, environ={}, git_email=git) == "alice"
    with pytest.raises(ConfigError, match="not mapped to a user"):
        resolve_reviewer(CONFIG, explicit=None, environ={}, git_email="eve@example.com")
    with pytest.raises(ConfigError, match="cannot tell who you are"):
        resolve_reviewer(CONFIG, explicit=None, environ={}, git_email=None)
