"""Remote actions as a user meets them: `stageline run`, `actions pull`, offline runs and
`validate`, with the actions served by `git daemon` on 127.0.0.1 and the cache in tmp."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import make_repo, stageline
from tests.runner.actions.gitserver import ActionServer, build, serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

WORKFLOW = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: greet
        uses: acme/greet@v1
        with:
          who: dave
      - uses: acme/greet@next
      - uses: acme/greet@{sha}
      - id: wrap
        uses: acme/wrap/sub@v2
      - run: echo "outputs=$A/$B"
        env:
          A: ${{{{ steps.greet.outputs.greeting }}}}
          B: ${{{{ steps.wrap.outputs.greeting }}}}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ActionServer]:
    with serve(build(tmp_path / "server")) as started:
        yield started


def env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "STAGELINE_ACTIONS_URL": url, **extra}


def resolved(repo: Path) -> list[dict[str, object]]:
    with sqlite3.connect(repo / ".stageline" / "stageline.db") as db:
        rows = db.execute("select data from events where kind = 'action.resolved' order by id")
        return [json.loads(data) for (data,) in rows]


def test_a_run_fetches_runs_and_records_remote_actions(
    tmp_path: Path, server: ActionServer
) -> None:
    workflow = WORKFLOW.format(sha=server.shas["greet@v1"])
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    done = stageline(repo, "run", env=env(tmp_path, server.url))
    assert done.returncode == 0, done.stderr
    logs = stageline(repo, "logs", "1", env=env(tmp_path, server.url)).stdout
    for line in [
        "greet-pre",
        "greet-main hello dave",
        "greet-main-next hello world",
        "greet-main hello wrapped",
        "wrap-done",
        "outputs=hello dave/hello wrapped",
        "greet-post hello dave",
    ]:
        assert line in logs, line
    shas = {(e["uses"], e["sha"]) for e in resolved(repo)}
    assert shas == {
        ("acme/greet@v1", server.shas["greet@v1"]),
        ("acme/greet@next", server.shas["greet@main"]),
        (f"acme/greet@{server.shas['greet@v1']}", server.shas["greet@v1"]),
        ("acme/wrap/sub@v2", server.shas["wrap@v2"]),
    }
    posts = [line for line in logs.splitlines() if "greet-post" in line]
    assert [p.split("greet-post ")[1] for p in posts] == [
        "hello wrapped",  # post steps run in reverse order
        "hello world",
        "hello world",
        "hello dave",
    ]


def test_offline_after_actions_pull(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW.format(sha="v1")})
    with serve(build(tmp_path / "server")) as server:
        offline = env(tmp_path, server.url, STAGELINE_OFFLINE="1")
        before = stageline(repo, "run", env=offline)
        assert before.returncode == 1
        assert "stageline actions pull" in before.stderr and "Traceback" not in before.stderr
        pulled = stageline(repo, "actions", "pull", env=env(tmp_path, server.url))
        assert pulled.returncode == 0, pulled.stderr
        assert {line.split()[0] for line in pulled.stdout.splitlines()} == {
            "acme/greet@v1",
            "acme/greet@next",
            "acme/wrap/sub@v2",
        }
    done = stageline(repo, "run", env=offline)  # the server is gone
    assert done.returncode == 0, done.stderr
    assert "outputs=hello dave/hello wrapped" in stageline(repo, "logs", "1").stdout
    # The flag does what the variable does; the server is still gone.
    flagged = stageline(repo, "run", "--offline", env=env(tmp_path, server.url))
    assert flagged.returncode == 0, flagged.stderr
    assert "outputs=hello dave/hello wrapped" in stageline(repo, "logs", "2").stdout


def test_an_unknown_ref_stops_the_run_with_one_line(tmp_path: Path, server: ActionServer) -> None:
    workflow = WORKFLOW.format(sha="v1").replace("acme/greet@next", "acme/greet@v9")
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    done = stageline(repo, "run", env=env(tmp_path, server.url))
    assert done.returncode == 1
    assert (
        f".github/workflows/ci.yml:10:9: error: action 'acme/greet@v9': no tag, branch or "
        f"commit 'v9' in {server.url}/acme/greet"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (repo / ".stageline" / "stageline.db").exists()


def test_a_docker_action_fails_before_the_run_and_in_validate(
    tmp_path: Path, server: ActionServer
) -> None:
    workflow = WORKFLOW.format(sha="v1").replace("acme/greet@next", "acme/boxed@v1")
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    message = (
        "action 'acme/boxed@v1': it is a container action, and container actions need a "
        "Docker engine"
    )
    done = stageline(repo, "run", env=env(tmp_path, server.url))
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not (repo / ".stageline" / "stageline.db").exists()
    checked = stageline(repo, "validate", env=env(tmp_path, server.url))
    assert checked.returncode == 1
    assert f".github/workflows/ci.yml:10:9: error: {message}" in checked.stderr


def test_actions_pull_of_given_workflows_reports_problems(
    tmp_path: Path, server: ActionServer
) -> None:
    boxed = WORKFLOW.format(sha="v1").replace("acme/greet@next", "acme/boxed@v1")
    repo = make_repo(
        tmp_path / "app",
        {".github/workflows/ci.yml": WORKFLOW.format(sha="v9"), "other/boxed.yml": boxed},
    )
    done = stageline(repo, "actions", "pull", "other/boxed.yml", env=env(tmp_path, server.url))
    assert done.returncode == 1
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["acme/greet@v1", server.shas["greet@v1"]],
        ["acme/wrap/sub@v2", server.shas["wrap@v2"]],
    ]
    assert "error: action 'acme/boxed@v1': it is a container action" in done.stderr
    offline = stageline(
        repo, "actions", "pull", env=env(tmp_path, server.url, STAGELINE_OFFLINE="1")
    )
    assert offline.returncode == 2 and "offline" in offline.stderr
