"""The record operations on a team server's record: which repository, whose run, and
decisions and rollbacks audited whether they count or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app import accounts, repos, served
from stageline.app.accounts import Role
from stageline.app.gates import NotCounted
from stageline.app.serverdata import ServerData, open_server
from stageline.errors import ConfigError, RunError
from stageline.store.records import NewJob, NewRun
from tests.support.server import GATED_WORKFLOW, make_source

CONFIG = """environments:
  production:
    approval:
      rules: [{reviewers: [alice, bob], required: 1}]
      prevent_self_review: true
"""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerData]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with open_server(tmp_path / "data") as opened:
        yield opened


def waiting_run(server: ServerData, tmp_path: Path, started_by: str, email: str) -> int:
    """A run of repository `web` recorded as waiting at production's gate, linked."""
    sha = make_source(
        tmp_path / "web", {".github/workflows/d.yml": GATED_WORKFLOW, ".stageline.yml": CONFIG}
    )
    repo = repos.add_repo(server, "web", str(tmp_path / "web"))
    new = NewRun(
        repo.mirror_path, "local/web", "d", "d.yml", "push", "refs/heads/main", sha, "x", {}
    )
    run_id, _ = server.store.runs.create_run(new, [NewJob("deploy", "deploy", "deploy", [])], "l")
    server.store.deployments.open_gate(run_id, "production", actor="x")
    server.store.server.link_run(run_id, repo.id, None, started_by, email)
    return run_id


def test_the_repository_is_named_or_the_only_one(server: ServerData, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the server has none"):
        served.repo(server, None)
    for name in ("web", "api"):
        make_source(tmp_path / name, {"README": name})
        repos.add_repo(server, name, str(tmp_path / name))
    with pytest.raises(ConfigError, match="the server has several") as err:
        served.repo(server, None)
    assert err.value.hint == "pass repo=NAME (--repo); registered: api, web"
    assert served.repo(server, "api").name == "api"
    with pytest.raises(served.UnknownRepo, match="no repository 'nope'"):
        served.repo(server, "nope")


def test_the_author_is_the_commit_email_s_user_else_who_started_it(
    server: ServerData, tmp_path: Path
) -> None:
    accounts.add_user(server, "alice", Role.REVIEWER, ["Alice@Example.com"], None)
    run = waiting_run(server, tmp_path, "root", "alice@example.com")
    assert served.run_author(server, run) == "alice"
    new = NewRun("m", "local/web", "d", "d.yml", "push", "refs/heads/main", "abc", "x", {})
    other, _ = server.store.runs.create_run(new, [], "l")
    server.store.server.link_run(other, 1, None, "root", "nobody@example.com")
    assert served.run_author(server, other) == "root"
    assert served.run_author(server, 999) is None


def test_decisions_are_judged_against_the_author_and_audited(
    server: ServerData, tmp_path: Path
) -> None:
    accounts.add_user(server, "alice", Role.REVIEWER, ["alice@example.com"], None)
    run = waiting_run(server, tmp_path, "root", "alice@example.com")
    with pytest.raises(NotCounted, match="alice triggered the run"):
        served.decide(server, run, "approve", reviewer="alice", comment="mine")
    [gate] = server.store.deployments.gates_of_run(run)
    assert server.store.deployments.decisions(gate.id) == []  # alice's was not recorded
    done = served.decide(server, run, "approve", reviewer="bob")
    assert (done.reviewer, done.effect, done.environment) == ("bob", "approved", "production")
    [made] = server.store.deployments.decisions(gate.id)
    assert made.data == {"via": "server", "user": "bob"}  # what approval.where: server counts
    audit = [(a.actor, a.action, a.detail) for a in server.store.server.list_audit()]
    assert (
        "alice",
        "gate.approve",
        {
            "environment": None,
            "comment": "mine",
            "refused": "alice's approve of run 1 for production does not count: "
            "alice triggered the run and self-review is not allowed",
        },
    ) in audit
    assert (
        "bob",
        "gate.approve",
        {
            "environment": "production",
            "comment": None,
            "effect": "approved",
        },
    ) in audit
    with pytest.raises(RunError, match="no run 99"):
        served.decide(server, 99, "approve", reviewer="bob")


def test_a_failed_rollback_is_audited(server: ServerData, tmp_path: Path) -> None:
    waiting_run(server, tmp_path, "root", "")
    web = served.repo(server, "web")
    with pytest.raises(RunError, match="nothing is deployed to production"):
        served.rollback(server, web, "production", to=None, who="bob")
    last = server.store.server.list_audit()[0]  # newest first
    assert (last.actor, last.action, last.target) == (
        "bob",
        "environment.rollback",
        "web:production",
    )
    assert last.detail == {"to": None, "failed": "nothing is deployed to production"}
