"""A small team without a forge: a bare repository with `stageline hook install`, a
plain `git push`, and the server starts the run (or records why it started none)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.app.serverdata import open_server
from tests.support.git import git
from tests.support.server import make_source, served, stageline, wait_until

CI = """on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "built $GITHUB_SHA by $GITHUB_ACTOR"
"""


def _push(work: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "push", "origin", *args], cwd=work, capture_output=True, text=True, check=True
    )
    return done.stderr


@pytest.mark.slow
def test_a_git_push_to_a_hooked_bare_repository_starts_a_run(tmp_path: Path) -> None:
    work = tmp_path / "work"
    make_source(work, {".github/workflows/ci.yml": CI})
    bare = tmp_path / "webapp.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    data = tmp_path / "data"
    secret_file = tmp_path / "webhook.secret"
    secret_file.write_text("a-long-shared-secret\nthe second line is not part of it\n")
    git(work, "remote", "add", "origin", str(bare))
    _push(work, "main")  # the repository has its first commit before it is registered
    added = stageline(
        "repo",
        "add",
        "webapp",
        "--url",
        str(bare),
        "--webhook-secret-file",
        str(secret_file),
        "--data-dir",
        str(data),
    )
    assert added.returncode == 0, added.stderr
    with open_server(data) as server:
        token, _ = accounts.create_token(server, accounts.add_user(server, "vic", Role.VIEWER))
    with served(data) as process:
        installed = stageline(
            "hook",
            "install",
            str(bare),
            "--server",
            process.url,
            "--repo",
            "webapp",
            "--secret-file",
            str(secret_file),
        )
        assert installed.returncode == 0, installed.stderr
        assert (bare / "hooks" / "post-receive").exists()

        (work / "app.py").write_text("print('v2')\n")
        git(work, "add", "app.py")
        git(work, "commit", "-qm", "v2")
        sha = git(work, "rev-parse", "HEAD")
        said = _push(work, "main")
        assert "stageline: refs/heads/main: started run" in said, said

        with process.client(token) as client:
            events = client.get("/api/v1/repos/webapp/events").json()["events"]
        pushed = events[0]
        assert (pushed["source"], pushed["kind"], pushed["sha"], pushed["outcome"]) == (
            "git",
            "push",
            sha,
            "started",
        )
        (run_id,) = pushed["run_ids"]
        with open_server(data) as server:

            def finished() -> bool:
                return server.store.runs.get_run(run_id).run.status == "completed"

            wait_until(finished, f"run {run_id}")
            run = server.store.runs.get_run(run_id).run
            assert (run.conclusion, run.sha, run.ref) == ("success", sha, "refs/heads/main")
            link = server.store.server.run_link(run_id)
            assert link is not None and link.author_email == "alice@example.com"

        said = _push(work, "main:dev")
        assert "no workflow runs on push to dev" in said, said
        with process.client(token) as client:
            latest = client.get("/api/v1/repos/webapp/events").json()["events"][0]
        assert (latest["ref"], latest["outcome"], latest["run_ids"]) == (
            "refs/heads/dev",
            "nothing",
            [],
        )
        assert "branch 'dev' does not match push.branches [main]" in latest["reason"]
        assert httpx.get(f"{process.url}/api/v1/health").status_code == 200

        (bare / "hooks" / "stageline.secret").write_text("a guessed secret\n")
        said = _push(work, "main:other")  # the push itself succeeds; the server refuses it
        assert "stageline: refs/heads/other: the server refused it (401)" in said, said
        with process.client(token) as client:
            unchanged = client.get("/api/v1/repos/webapp/events").json()["events"][0]
        assert unchanged["id"] == latest["id"]
