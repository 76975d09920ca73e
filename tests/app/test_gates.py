"""Deciding a gate through the service: which gate, who, and decisions that do not count."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stageline.app import context, gates
from stageline.errors import ConfigError, RunError
from stageline.store import open_store
from stageline.store.records import NewJob, NewRun
from tests.app.conftest import make_repo

CONFIG = """users: {bob@example.com: bob}
environments:
  production:
    approval:
      rules: [{reviewers: [alice, bob], required: 1}]
      prevent_self_review: true
  staging:
    approval:
      rules: [{reviewers: [bob], required: 1}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", {".stageline.yml": CONFIG})
    subprocess.run(["git", "config", "user.email", "bob@example.com"], cwd=root, check=True)
    return root


def waiting_run(repo: Path, *environments: str, pause: str | None = None) -> int:
    """A run recorded as waiting at the gates of `environments` (as a killed run leaves it),
    and at a bake window's pause gate of `pause`."""
    with open_store(repo / ".stageline") as store:
        new = NewRun(str(repo), "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "x", {})
        run_id, _ = store.runs.create_run(new, [NewJob("deploy", "deploy", "deploy", [])], "logs")
        for name in environments:
            store.deployments.open_gate(run_id, name, actor="alice")
        if pause is not None:
            deployment = store.deployments.create_deployment(
                repo_path=str(repo),
                environment=pause,
                run_id=run_id,
                job_key="deploy",
                sha="abc",
                ref="refs/heads/main",
                triggered_by="alice",
                status="in_progress",
            )
            store.deployments.open_gate(
                run_id, pause, actor="alice", kind="pause", deployment_id=deployment
            )
    return run_id


def recorded(repo: Path, run_id: int) -> list[tuple[str, str, str | None]]:
    with open_store(repo / ".stageline") as store:
        return [
            (d.reviewer, d.verdict, d.comment)
            for g in store.deployments.gates_of_run(run_id)
            for d in store.deployments.decisions(g.id)
        ]


def test_a_decision_by_the_git_identity_is_recorded(repo: Path) -> None:
    run = waiting_run(repo, "production")
    done = gates.decide(repo, run, "approve", comment="ship it")
    assert done == gates.GateDecision(run, "production", "approval", "approve", "bob", "approved")
    assert recorded(repo, run) == [("bob", "approve", "ship it")]


def test_a_decision_that_does_not_count_is_recorded_and_refused(repo: Path) -> None:
    run = waiting_run(repo, "production")
    with pytest.raises(ConfigError, match="self-review is not allowed"):
        gates.decide(repo, run, "approve", as_="alice")
    with pytest.raises(ConfigError, match="carol is not a reviewer of any approval rule"):
        gates.decide(repo, run, "reject", as_="carol")
    assert gates.decide(repo, run, "reject", as_="alice").effect == "rejected"
    assert [v[:2] for v in recorded(repo, run)] == [
        ("alice", "approve"),
        ("carol", "reject"),
        ("alice", "reject"),
    ]


def test_the_environment_chooses_among_several_gates(repo: Path) -> None:
    run = waiting_run(repo, "production", "staging")
    with pytest.raises(ConfigError, match="waits on several environments: production, staging"):
        gates.decide(repo, run, "approve")
    with pytest.raises(RunError, match="not waiting for a decision for environment 'qa'"):
        gates.decide(repo, run, "approve", environment="qa")
    assert gates.decide(repo, run, "approve", environment="staging").environment == "staging"
    assert recorded(repo, run) == [("bob", "approve", None)]


def test_a_pause_gate_continues_or_rolls_back(repo: Path) -> None:
    run = waiting_run(repo, pause="staging")
    done = gates.decide(repo, run, "reject", as_="carol")  # a pause has no reviewer rules
    assert (done.kind, done.effect) == ("pause", "rolling back (pause rejected)")


def test_unknown_runs_and_runs_not_waiting(repo: Path) -> None:
    with pytest.raises(RunError, match="no runs recorded yet"):
        gates.decide(repo, 1, "approve")
    run = waiting_run(repo)
    with pytest.raises(RunError, match="no run 99 in the record"):
        gates.decide(repo, 99, "approve")
    with pytest.raises(RunError, match=f"run {run} is not waiting for a decision"):
        gates.decide(repo, run, "approve")


def test_decide_in_judges_the_given_reviewer_against_the_given_author(repo: Path) -> None:
    run = waiting_run(repo, "production")
    with context.open(repo) as ctx:
        with pytest.raises(ConfigError, match="bob triggered the run and self-review"):
            gates.decide_in(ctx, run, "approve", reviewer="bob", author="bob")
        done = gates.decide_in(ctx, run, "approve", reviewer="bob", author="dave", comment="ok")
    assert (done.reviewer, done.effect) == ("bob", "approved")
    # refused against an author given apart from the record: not recorded (the run's
    # process, which judges by the recorded actor alice, would have counted it)
    assert recorded(repo, run) == [("bob", "approve", "ok")]


def origins(repo: Path, run_id: int) -> list[dict[str, object]]:
    with open_store(repo / ".stageline") as store:
        return [
            d.data
            for g in store.deployments.gates_of_run(run_id)
            for d in store.deployments.decisions(g.id)
        ]


def test_a_local_decision_records_the_os_user_and_the_git_identity(repo: Path) -> None:
    import getpass

    subprocess.run(["git", "config", "user.name", "Bob Builder"], cwd=repo, check=True)
    run = waiting_run(repo, "production")
    gates.decide(repo, run, "approve", as_="bob")
    assert origins(repo, run) == [
        {"via": "local", "os_user": getpass.getuser(), "git": "Bob Builder <bob@example.com>"}
    ]


def test_where_server_refuses_local_decisions_and_takes_the_servers(repo: Path) -> None:
    (repo / ".stageline.yml").write_text(
        CONFIG.replace("      prevent_self_review: true\n", "      where: server\n")
    )
    run = waiting_run(repo, "production")
    with pytest.raises(gates.ServerOnly, match="takes decisions only through the team server"):
        gates.decide(repo, run, "approve", as_="bob")
    with pytest.raises(gates.ServerOnly):
        gates.decide(repo, run, "reject", as_="bob")
    assert recorded(repo, run) == []  # refused, not recorded
    with context.open(repo) as ctx:
        done = gates.decide_in(
            ctx, run, "approve", reviewer="bob", origin={"via": "server", "user": "bob"}
        )
    assert done.effect == "approved"
    assert origins(repo, run) == [{"via": "server", "user": "bob"}]
