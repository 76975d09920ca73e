"""The record commands with `--server`: the same workflow run locally and on a real
server prints the same `--json` shapes; decisions are the token's user's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stageline.cli.remote import Event, RemoteError, parse_events, path, record, refuse_as
from stageline.store.deploy_records import DeploymentRow
from tests.server.api.conftest import Team, make_project, running_team, wait_for
from tests.support.cli import stageline


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with running_team(tmp_path / "team", None) as started:
        yield started


def remote(team: Team, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`stageline ARGS` as `user` against the team's server (STAGELINE_SERVER)."""
    return stageline(team.project, *args, env=team.cli_env(user))


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def shape(document: Any) -> Any:
    """The keys of `document`, recursively (the first item stands for a list)."""
    if isinstance(document, dict):
        return {key: shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [shape(document[0])] if document else []
    return None


def local_run(tmp_path: Path) -> Path:
    """The project run with the local record: bob approves with --as; it deploys."""
    project = make_project(tmp_path / "local")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=project,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: stageline(project, "approve", "1", "--as", "bob").returncode == 0, "gate")
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    return project


@pytest.mark.slow
def test_json_has_the_same_shape_locally_and_through_a_server(team: Team, tmp_path: Path) -> None:
    project = local_run(tmp_path)
    run = team.start_run()
    wait_for(
        lambda: remote(team, "bob", "approve", str(run), "-m", "ok").returncode == 0,
        "bob's approval through the server",
    )
    followed = ok(remote(team, "vera", "logs", str(run), "--follow"))
    assert "== deploy / " in followed and "deploying " in followed

    commands = [
        ["runs", "--json"],
        ["show", "1", "--json"],
        ["deployments", "--json"],
        ["environments", "--json"],
        ["metrics", "--json"],
    ]
    for command in commands:
        here = json.loads(ok(stageline(project, *command)))
        there = json.loads(ok(remote(team, "vera", *command)))
        assert shape(here) == shape(there), command
    shown = json.loads(ok(remote(team, "vera", "show", str(run), "--json")))
    assert (shown["conclusion"], [a["name"] for a in shown["artifacts"]]) == ("success", ["site"])

    second = team.start_run()
    wait_for(lambda: remote(team, "bob", "approve", str(second)).returncode == 0, "approval")
    ok(remote(team, "vera", "logs", str(second), "deploy", "--follow"))
    with_as = remote(team, "alice", "rollback", "production", "--as", "bob")
    assert with_as.returncode == 1 and "--as cannot be used" in with_as.stderr
    rolled = ok(remote(team, "alice", "rollback", "production", "--repo", "demo"))
    assert rolled.startswith("production rolled back to deployment #1")
    table = ok(remote(team, "vera", "deployments", "production"))
    assert "rollback: restores #1 in place of #2" in table
    assert "deployment frequency" in ok(remote(team, "vera", "metrics"))


@pytest.mark.slow
def test_text_output_and_refusals_through_a_server(team: Team) -> None:
    run = team.start_run()
    wait_for(
        lambda: "waiting" in remote(team, "vera", "runs").stdout, "the run to wait at its gate"
    )
    table = ok(remote(team, "vera", "runs"))
    assert "ID" in table.splitlines()[0] and "waiting" in table
    shown = ok(remote(team, "vera", "show", str(run)))
    assert f"run {run} #1" in shown and "waiting for:" in shown
    logs = ok(remote(team, "vera", "logs", str(run), "build"))
    assert logs.startswith("== build / ") and "tick 2" in logs
    assert "production" in ok(remote(team, "vera", "environments"))

    with_as = remote(team, "bob", "approve", str(run), "--as", "carol")
    assert with_as.returncode == 1
    assert "--as cannot be used with --server" in with_as.stderr
    assert "Traceback" not in with_as.stderr

    own = remote(team, "alice", "approve", str(run))
    assert own.returncode == 1
    assert "403" in own.stderr and "self-review is not allowed" in own.stderr

    no_token = stageline(team.project, "runs", "--server", team.url)
    assert no_token.returncode == 1 and "no token for the server" in no_token.stderr
    forged = stageline(team.project, "runs", env={**team.cli_env("vera"), "STAGELINE_TOKEN": "x"})
    assert forged.returncode == 1 and "401" in forged.stderr
    down = stageline(
        team.project, "runs", env={**team.cli_env("vera"), "STAGELINE_SERVER": "http://127.0.0.1:9"}
    )
    assert down.returncode == 1 and "cannot reach the server" in down.stderr

    assert ok(remote(team, "bob", "reject", str(run), "-m", "no")).startswith(
        f"run {run} → production: rejected by bob"
    )


#: Starts a run on the team's server from another process, which is then killed while
#: the run waits at its gate (as a server that died would leave it).
ORPHANING = """
import sys, time
from stageline.app import repos, runs
from stageline.app.host import RunHost
from stageline.app.serverdata import open_server
from stageline.engine.setup import RunOptions

with open_server(sys.argv[1]) as server:
    repo = repos.get_repo(server, "demo")
    sha = repos.fetch(server, repo, "main")
    checkout = repos.checkout(server, repo, sha, "refs/heads/main")
    prepared = runs.prepare(RunOptions(cwd=checkout, event="push", actor="alice"))
    [run] = RunHost(server).start(prepared, repo, "root", author_email="alice@example.com")
    while server.store.runs.get_run(run).run.status != "waiting":
        time.sleep(0.1)
    print(run, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_run_left_waiting_is_resumed_by_the_server(team: Team) -> None:
    orphaning = subprocess.Popen(
        [sys.executable, "-c", ORPHANING, str(team.data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert orphaning.stdout is not None
    run = int(orphaning.stdout.readline())
    orphaning.kill()
    orphaning.communicate()

    resuming = subprocess.Popen(
        [sys.executable, "-m", "stageline", "resume", str(run)],
        cwd=team.project,
        env={**os.environ, **team.cli_env("root")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: remote(team, "bob", "approve", str(run)).returncode == 0,
            "the resumed run to take bob's approval",
        )
        out, err = resuming.communicate(timeout=120)
    finally:
        if resuming.poll() is None:
            resuming.kill()
            resuming.communicate()
    assert resuming.returncode == 0, err
    assert f"resuming run {run}" in err
    assert "deploying " in out
    again = remote(team, "root", "resume", str(run))
    assert again.returncode == 1 and "nothing to resume" in again.stderr
    with team.client("vera") as api:
        assert api.get(f"/runs/{run}").json()["conclusion"] == "success"


def test_server_sent_events_are_parsed_as_the_format_says() -> None:
    lines = [": keep-alive", "", "event: log", "id: 7", "data: a", "data:", "data:  b", ""]
    lines += ["data: plain", "", "event: end", "data: {}"]  # no blank line: not an event yet
    assert list(parse_events(iter(lines))) == [
        Event("log", "a\n\n b", "7"),
        Event("message", "plain", "7"),
    ]


def test_a_document_becomes_the_record_its_renderer_takes() -> None:
    document = {"id": 3, "status": "success", "finished_at": "2026-01-02T03:04:05Z"}
    row = record(DeploymentRow, document, job_key="deploy")
    assert (row.id, row.job_key, row.sha) == (3, "deploy", None)
    assert row.finished_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert path("runs", 4, "jobs", "build (3.11, x)") == "/runs/4/jobs/build%20%283.11%2C%20x%29"
    with pytest.raises(RemoteError, match="--as cannot be used with --server"):
        refuse_as("carol")


@pytest.mark.slow
def test_show_through_a_server_displays_the_decisions_as_show_does_locally(
    team: Team, tmp_path: Path
) -> None:
    """Issue 13, item 4: who decided, and where: a terminal (its OS user and git
    identity) locally, the authenticated user through the server; text and --json."""
    import getpass

    run = team.start_run()
    wait_for(
        lambda: remote(team, "bob", "approve", str(run), "-m", "ship it").returncode == 0,
        "bob's approval through the server",
    )
    text = ok(remote(team, "vera", "show", str(run)))
    assert 'decision: production: approve by bob (via the server) "ship it"' in text
    there = json.loads(ok(remote(team, "vera", "show", str(run), "--json")))
    [decision] = there["decisions"]
    assert (decision["reviewer"], decision["verdict"], decision["comment"]) == (
        "bob",
        "approve",
        "ship it",
    )
    assert decision["origin"] == {"via": "server", "user": "bob", "os_user": None, "git": None}

    project = local_run(tmp_path)
    here = json.loads(ok(stageline(project, "show", "1", "--json")))
    [local] = here["decisions"]
    assert local["origin"] == {
        "via": "local",
        "os_user": getpass.getuser(),
        "git": "Alice <alice@example.com>",
        "user": None,
    }
    assert shape(here["decisions"]) == shape(there["decisions"])
    assert "decision: production: approve by bob (local: os user " in ok(
        stageline(project, "show", "1")
    )
