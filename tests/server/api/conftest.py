"""A real team server for the API's tests: `stageline serve` on a free port over a real
SQLite file (and, marked `services`, a real PostgreSQL database), set up with the CLI a
team uses (`user add`, `token create`, `repo add`).

Runs are started the way the server starts them, by a `RunHost` over the same data
dir and store, here in the test's process (starting runs from a push belongs to the
triggers): the server process reads them, follows their logs and decides their gates
through the shared store, as a server with several run hosts would.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.app.host import RunHost
from stageline.app.serverdata import open_server
from tests.support.git import git
from tests.support.postgres import fresh_database
from tests.support.server import Served, served, stageline

WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p site && echo "<h1>${{ github.sha }}</h1>" > site/index.html
      - run: |
          echo "tick 1"
          if [ -n "${{ vars.HOLD }}" ]; then
            until [ -e "${{ vars.HOLD }}" ]; do sleep 0.05; done
          fi
          echo "tick 2"
      - uses: actions/upload-artifact@v4
        with: {name: site, path: site}
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo "deploying ${{ github.sha }}"
"""
CONFIG = """environments:
  production:
    approval:
      rules: [{reviewers: [alice, bob], required: 1}]
      prevent_self_review: true
"""
#: Users of the team: name → (role, commit email).
USERS = {
    "root": ("admin", None),
    "alice": ("reviewer", "alice@example.com"),
    "bob": ("reviewer", "bob@example.com"),
    "vera": ("viewer", None),
}


def make_project(root: Path) -> Path:
    """A repository with the workflow and `.stageline.yml`, committed by alice."""
    for name, text in {".github/workflows/ci.yml": WORKFLOW, ".stageline.yml": CONFIG}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Alice")
    git(root, "config", "user.email", "alice@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


@dataclass
class Team:
    """A running server and its users' tokens."""

    served: Served
    data_dir: Path
    database_url: str | None
    project: Path
    tokens: dict[str, str]
    _host: RunHost | None = None
    _opened: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def url(self) -> str:
        return self.served.url

    def client(self, user: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    def cli_env(self, user: str) -> dict[str, str]:
        """What `stageline ... --server` reads: the server and the user's token."""
        return {"STAGELINE_SERVER": self.url, "STAGELINE_TOKEN": self.tokens[user]}

    def start_run(self, **vars: str) -> int:
        """A push run of the project's main on the server, by root, authored by alice."""
        from stageline.app import repos, runs
        from stageline.engine.setup import RunOptions

        host = self.host()
        repo = repos.get_repo(host.server, "demo")
        sha = repos.fetch(host.server, repo, "main")
        checkout = repos.checkout(host.server, repo, sha, "refs/heads/main")
        options = RunOptions(cwd=checkout, event="push", actor="alice", vars=dict(vars))
        [run_id] = host.start(runs.prepare(options), repo, "root", author_email="alice@example.com")
        return run_id

    def host(self) -> RunHost:
        """This process's run host over the server's data dir and store (made once)."""
        if self._host is None:
            server = self._opened.enter_context(open_server(self.data_dir, self.database_url))
            self._host = RunHost(server)
            self._opened.callback(self._stop, self._host)
        return self._host

    @staticmethod
    def _stop(host: RunHost) -> None:
        """Cancel what still runs (a run left at a gate too), then wait for the threads."""
        for run_id in host.active():
            host.cancel(run_id, "the test")
        assert host.join(60), "a run thread outlived its test"


@contextlib.contextmanager
def running_team(tmp_path: Path, database_url: str | None) -> Iterator[Team]:
    """Users, tokens and the project registered with the CLI; then `stageline serve`."""
    data_dir = tmp_path / "server"
    where = ["--data-dir", str(data_dir)]
    where += ["--database-url", database_url] if database_url else []
    project = make_project(tmp_path / "project")
    tokens: dict[str, str] = {}
    for name, (role, email) in USERS.items():
        emails = ["--email", email] if email else []
        ok(stageline("user", "add", name, "--role", role, *emails, *where))
        tokens[name] = ok(stageline("token", "create", "--user", name, *where)).splitlines()[-1]
    ok(stageline("repo", "add", "demo", "--url", str(project), *where))
    with served(data_dir, *where[2:]) as server:
        team = Team(server, data_dir, database_url, project, tokens)
        with team._opened:
            yield team
        server.stop()


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """A server over a SQLite file."""
    with running_team(tmp_path, None) as started:
        yield started


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def any_team(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Team]:
    """A server over a SQLite file, then over a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with running_team(tmp_path, None) as started:
            yield started
        return
    with fresh_database() as url, running_team(tmp_path, url) as started:
        yield started


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    """Poll `check()` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
