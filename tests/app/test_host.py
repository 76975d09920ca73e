"""`RunHost`: the server's runs in worker threads, on real repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app import repos
from stageline.app.host import RunHost
from stageline.app.runs import prepare
from stageline.app.serverdata import ServerData, open_server
from stageline.engine.setup import Prepared, RunOptions
from stageline.errors import RunError
from stageline.store.server_records import RepoRow
from tests.support.postgres import fresh_database
from tests.support.server import PLAIN_WORKFLOW, commit, gated_source, make_source, wait_until


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerData]:
    """The server's data dir, its record in SQLite or in a fresh PostgreSQL database."""
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    if request.param == "sqlite":
        with open_server(tmp_path / "data") as opened:
            yield opened
        return
    with fresh_database() as url, open_server(tmp_path / "data", url) as opened:
        yield opened


@pytest.fixture
def host(server: ServerData) -> Iterator[RunHost]:
    made = RunHost(server)
    yield made
    assert made.join(60), "a run thread outlived its test"


def _prepared(server: ServerData, repo: RepoRow, sha: str) -> Prepared:
    root = repos.checkout(server, repo, repos.fetch(server, repo, sha), "refs/heads/main")
    return prepare(RunOptions(cwd=root, event="push"))


def _status(server: ServerData, run_id: int) -> str:
    return server.store.runs.get_run(run_id).run.status


def _finished(server: ServerData, run_id: int) -> bool:
    return _status(server, run_id) == "completed"


def test_runs_are_numbered_per_registered_repository_and_linked(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    sha = make_source(tmp_path / "web", {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    make_source(tmp_path / "api", {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    api = repos.add_repo(server, "api", str(tmp_path / "api"))
    trigger = server.store.server.record_trigger(web.id, "github", "push", "1", "", sha, "", {})
    first = host.start(_prepared(server, web, sha), web, "alice", trigger, "alice@example.com")
    second = host.start(_prepared(server, web, "main"), web, "bob")
    other = host.start(_prepared(server, api, "main"), api, "bob")
    for run_id in first + second + other:
        wait_until(lambda run_id=run_id: _finished(server, run_id), f"run {run_id} to finish")
    numbers = [server.store.runs.get_run(r).run.number for r in first + second + other]
    assert numbers == [1, 2, 1]
    detail = server.store.runs.get_run(first[0])
    assert detail.run.repo_path == web.mirror_path
    assert detail.run.conclusion == "success" and detail.run.sha == sha
    assert detail.run.repository == "local/web"
    link = server.store.server.run_link(first[0])
    assert link is not None
    assert (link.repo_id, link.trigger_id, link.started_by) == (web.id, trigger, "alice")
    assert server.store.server.runs_of_repo(web.id) == [second[0], first[0]]


def test_listeners_hear_every_event_of_every_run(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    sha = make_source(tmp_path / "web", {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    heard: list[tuple[str, str]] = []
    stop = host.listen(lambda event: heard.append((event.run_id, event.kind)))
    host.listen(lambda event: 1 / 0)  # a broken listener changes nothing
    [run_id] = host.start(_prepared(server, web, sha), web, "alice")
    wait_until(lambda: (str(run_id), "run.finished") in heard, "the run's last event")
    kinds = [kind for rid, kind in heard if rid == str(run_id)]
    assert kinds[0] == "run.started" and "job.finished" in kinds
    assert server.store.runs.get_run(run_id).run.conclusion == "success"
    stop()
    before = len(heard)
    [again] = host.start(_prepared(server, web, sha), web, "alice")
    wait_until(lambda: _finished(server, again), "the second run")
    assert len(heard) == before


def test_a_gated_run_waits_until_a_decision_is_recorded(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    sha = gated_source(tmp_path / "web")
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    [run_id] = host.start(_prepared(server, web, sha), web, "alice", None, "alice@example.com")
    wait_until(lambda: _status(server, run_id) == "waiting", "the gate")
    assert host.active() == [run_id]
    [gate] = server.store.deployments.gates_of_run(run_id, status="pending")
    server.store.deployments.record_decision(run_id, gate.id, "bob", "approve")
    wait_until(lambda: _finished(server, run_id), "the run to finish after the approval")
    detail = server.store.runs.get_run(run_id)
    assert detail.run.conclusion == "success"
    assert [j.conclusion for j in detail.jobs] == ["success", "success"]


def test_cancel_stops_a_waiting_run_and_is_audited(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    sha = gated_source(tmp_path / "web")
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    [run_id] = host.start(_prepared(server, web, sha), web, "alice")
    wait_until(lambda: _status(server, run_id) == "waiting", "the gate")
    assert host.cancel(run_id, "carol").how == "requested"
    wait_until(lambda: _finished(server, run_id), "the cancelled run to end")
    assert server.store.runs.get_run(run_id).run.conclusion == "cancelled"
    [entry] = [a for a in server.store.server.list_audit() if a.action == "run.cancel"]
    assert (entry.actor, entry.target) == ("carol", str(run_id))
    with pytest.raises(RunError, match="has ended"):
        host.cancel(run_id, "carol")


FLAKY = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: test -f ok.txt
  other:
    runs-on: ubuntu-latest
    steps:
      - run: echo fine
"""


def test_rerun_failed_only_runs_the_failed_jobs_and_what_they_need(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    sha = make_source(tmp_path / "web", {".github/workflows/ci.yml": FLAKY})
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    [run_id] = host.start(_prepared(server, web, sha), web, "alice")
    wait_until(lambda: _finished(server, run_id), "the first run")
    assert server.store.runs.get_run(run_id).run.conclusion == "failure"
    [again] = host.rerun(run_id, failed_only=True, by="bob")
    wait_until(lambda: _finished(server, again), "the re-run")
    detail = server.store.runs.get_run(again)
    assert sorted(j.job_id for j in detail.jobs) == ["build", "check"]
    assert detail.run.sha == sha and detail.run.number == 2
    link = server.store.server.run_link(again)
    assert link is not None and link.started_by == "bob"
    [whole] = host.rerun(run_id, failed_only=False, by="bob")
    wait_until(lambda: _finished(server, whole), "the whole re-run")
    assert sorted(j.job_id for j in server.store.runs.get_run(whole).jobs) == [
        "build",
        "check",
        "other",
    ]
    commit(tmp_path / "web", {"ok.txt": "ok"})  # a later commit does not change a re-run
    [third] = host.rerun(run_id, failed_only=True, by="bob")
    wait_until(lambda: _finished(server, third), "the third run")
    assert server.store.runs.get_run(third).run.conclusion == "failure"
    with pytest.raises(RunError, match="no failed jobs"):
        host.rerun(_success_run(host, server, web), True, "bob")


def _success_run(host: RunHost, server: ServerData, web: RepoRow) -> int:
    commit(Path(web.url), {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    [run_id] = host.start(_prepared(server, web, "main"), web, "alice")
    wait_until(lambda: _finished(server, run_id), "a passing run")
    return run_id


def test_shutdown_cancels_running_runs_and_refuses_new_ones(
    server: ServerData, host: RunHost, tmp_path: Path
) -> None:
    slow = PLAIN_WORKFLOW.replace("echo built", "sleep 30")
    sha = make_source(tmp_path / "web", {".github/workflows/ci.yml": slow})
    web = repos.add_repo(server, "web", str(tmp_path / "web"))
    prepared = _prepared(server, web, sha)
    [run_id] = host.start(prepared, web, "alice")
    wait_until(lambda: _status(server, run_id) == "in_progress", "the job to start")
    host.shutdown(timeout=30)
    run = server.store.runs.get_run(run_id).run
    assert (run.status, run.conclusion) == ("completed", "cancelled")
    assert run.reason == "the server was shut down"
    with pytest.raises(RunError, match="shutting down"):
        host.start(prepared, web, "alice")
