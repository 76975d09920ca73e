"""`stageline approve/reject` through the real CLI on a real store: identity, which gate,
refusals that are still recorded, and errors without tracebacks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stageline.store import open_store
from stageline.store.records import NewJob, NewRun
from tests.support.cli import stageline

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
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".stageline.yml").write_text(CONFIG)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "config", "user.email", "bob@example.com"], cwd=root, check=True)
    return root


def waiting_run(repo: Path, *environments: str) -> int:
    """A run recorded as waiting at the gates of `environments` (as a killed run leaves it)."""
    with open_store(repo / ".stageline") as store:
        new = NewRun(str(repo), "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "x", {})
        run_id, _ = store.runs.create_run(new, [NewJob("deploy", "deploy", "deploy", [])], "logs")
        for name in environments:
            store.deployments.open_gate(run_id, name, actor="alice")
    return run_id


def decisions(repo: Path, run_id: int) -> list[tuple[str, str, str | None]]:
    with open_store(repo / ".stageline") as store:
        gates = store.deployments.gates_of_run(run_id)
        return [
            (d.reviewer, d.verdict, d.comment)
            for g in gates
            for d in store.deployments.decisions(g.id)
        ]


def test_identity_from_git_email_and_the_decision_is_recorded(repo: Path) -> None:
    run = waiting_run(repo, "production")
    done = stageline(repo, "approve", str(run), "-m", "ship it")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"run {run} → production: approved by bob\n"
    assert decisions(repo, run) == [("bob", "approve", "ship it")]


def test_self_review_is_refused_but_recorded(repo: Path) -> None:
    run = waiting_run(repo, "production")
    done = stageline(repo, "approve", str(run), env={"STAGELINE_USER": "alice"})
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"error: alice's approve of run {run} for production was recorded but does not count: "
        "alice triggered the run and self-review is not allowed\n  hint: "
    )
    assert decisions(repo, run) == [("alice", "approve", None)]
    rejected = stageline(repo, "reject", str(run), "--as", "alice")
    assert rejected.returncode == 0  # stopping one's own deploy is always allowed


def test_several_waiting_environments_need_env(repo: Path) -> None:
    run = waiting_run(repo, "production", "staging")
    done = stageline(repo, "approve", str(run), "--as", "bob")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: run {run} waits on several environments: production, staging\n"
        "  hint: name one with --env\n"
    )
    assert stageline(repo, "reject", str(run), "--env", "staging", "--as", "bob").returncode == 0
    assert decisions(repo, run) == [("bob", "reject", None)]


def test_errors_are_clear(repo: Path, tmp_path: Path) -> None:
    none_yet = stageline(repo, "approve", "1", "--as", "bob")
    assert none_yet.returncode == 1 and none_yet.stderr.startswith("error: no runs recorded yet")
    run = waiting_run(repo, "production")
    assert stageline(repo, "approve", "99", "--as", "bob").stderr.startswith("error: no run 99")
    wrong_env = stageline(repo, "approve", str(run), "--env", "staging", "--as", "bob")
    assert wrong_env.stderr.startswith(
        f"error: run {run} is not waiting for a decision for environment 'staging'"
    )
    subprocess.run(["git", "config", "user.email", "zed@example.com"], cwd=repo, check=True)
    unknown = stageline(repo, "approve", str(run))
    assert unknown.stderr.startswith(
        "error: git user.email zed@example.com is not mapped to a user"
    )
    assert "Traceback" not in unknown.stderr


def test_an_environment_decided_on_the_server_refuses_the_terminal(repo: Path) -> None:
    (repo / ".stageline.yml").write_text(
        CONFIG.replace("prevent_self_review: true", "where: server")
    )
    run = waiting_run(repo, "production")
    done = stageline(repo, "approve", str(run), "--as", "bob")
    assert done.returncode == 1
    assert done.stderr == (
        "error: environment 'production' takes decisions only through the team server "
        "(approval.where: server); this one was not recorded\n"
        "  hint: decide with --server URL (your token in $STAGELINE_TOKEN), or in the web UI\n"
    )
    assert decisions(repo, run) == []
