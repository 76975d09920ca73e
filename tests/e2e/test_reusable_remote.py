"""Remote reusable workflows (`OWNER/REPO/.github/workflows/x.yml@REF`) as a user meets
them: fetched through the action cache from `git daemon` on 127.0.0.1, pulled by
`stageline actions pull` with the actions they use, then run offline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_remote_actions import env
from tests.e2e.test_run_cli import by_name, make_repo, stageline
from tests.runner.actions.gitserver import ActionServer, build, serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

SHARED = """\
name: Shared deploy
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
    outputs:
      said: {value: "${{ jobs.ship.outputs.said }}"}
jobs:
  ship:
    runs-on: ubuntu-latest
    outputs: {said: "${{ steps.hi.outputs.greeting }}"}
    steps:
      - id: hi
        uses: acme/greet@v1
        with: {who: "${{ inputs.target }}"}
      - run: echo "shipped to ${{ inputs.target }}"
  notify:
    needs: ship
    uses: ./.github/workflows/notify.yml
    with: {what: "${{ needs.ship.outputs.said }}"}
"""

NOTIFY = """\
on:
  workflow_call:
    inputs: {what: {type: string}}
jobs:
  say:
    runs-on: ubuntu-latest
    steps: [{run: 'echo "notified: ${{ inputs.what }}"'}]
"""

CALLER = """\
on: push
jobs:
  deploy:
    uses: acme/pipelines/.github/workflows/deploy.yml@{ref}
    with: {{target: staging}}
  after:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - run: echo "after ${{{{ needs.deploy.outputs.said }}}}"
"""


def run_json(repo: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = stageline(repo, "run", "--json", env=env)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ActionServer]:
    built = build(tmp_path / "server")
    built.shas["pipelines@v1"] = built.publish(
        "acme/pipelines",
        {".github/workflows/deploy.yml": SHARED, ".github/workflows/notify.yml": NOTIFY},
    )
    built.tag("acme/pipelines", "v1")
    with serve(built) as started:
        yield started


def test_a_remote_workflow_is_fetched_and_its_jobs_run(
    tmp_path: Path, server: ActionServer
) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": CALLER.format(ref="v1")})
    code, document = run_json(repo, env=env(tmp_path, server.url))
    assert code == 0, document
    jobs = by_name(document)
    assert list(jobs) == ["deploy / ship", "deploy / notify / say", "after"]
    assert jobs["deploy / ship"]["outputs"] == {"said": "hello staging"}
    logs = stageline(repo, "logs", str(document["run_id"]), env=env(tmp_path, server.url)).stdout
    assert "greet-main hello staging" in logs
    assert "shipped to staging" in logs and "after hello staging" in logs
    assert "notified: hello staging" in logs  # a local call inside the remote workflow


def test_offline_after_actions_pull(tmp_path: Path, server: ActionServer) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": CALLER.format(ref="v1")})
    offline = env(tmp_path, server.url, STAGELINE_OFFLINE="1")
    before = stageline(repo, "run", env=offline)
    assert before.returncode == 1
    assert ".github/workflows/ci.yml:4:11: error: job 'deploy' calls acme/pipelines/" in (
        before.stderr
    )
    assert "stageline actions pull" in before.stderr and "Traceback" not in before.stderr
    # validate looks only in the cache, and leaves an uncached callee to the run
    assert stageline(repo, "validate", env=offline).returncode == 0

    pulled = stageline(repo, "actions", "pull", env=env(tmp_path, server.url))
    assert pulled.returncode == 0, pulled.stderr
    lines = {line.split()[0]: line.split()[1] for line in pulled.stdout.splitlines()}
    assert lines == {
        "acme/pipelines/.github/workflows/deploy.yml@v1": server.shas["pipelines@v1"],
        "acme/pipelines/.github/workflows/notify.yml@v1": server.shas["pipelines@v1"],
        "acme/greet@v1": server.shas["greet@v1"],
    }
    server_gone = env(tmp_path, "git://127.0.0.1:9", STAGELINE_OFFLINE="1")
    code, document = run_json(repo, env=server_gone)
    assert code == 0, document
    assert by_name(document)["deploy / ship"]["outputs"] == {"said": "hello staging"}


def test_an_unknown_ref_is_one_positioned_line(tmp_path: Path, server: ActionServer) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": CALLER.format(ref="v9")})
    done = stageline(repo, "run", env=env(tmp_path, server.url))
    assert done.returncode == 1
    assert ".github/workflows/ci.yml:4:11: error: job 'deploy' calls " in done.stderr
    assert f"no tag, branch or commit 'v9' in {server.url}/acme/pipelines" in done.stderr
    assert "Traceback" not in done.stderr
