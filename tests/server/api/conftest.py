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
import os
import signal
import subprocess
import sys
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
from tests.support.http import free_port
from tests.support.postgres import fresh_database

WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p site && echo "<h1>${{ github.sha }}</h1>" > site/index.html
      - run: |
          for i in 1 2 3 4 5 6; do echo "tick $i"; sleep ${{ vars.TICK || '0' }}; done
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

    url: str
    data_dir: Path
    database_url: str | None
    project: Path
    tokens: dict[str, str]
    process: subprocess.Popen[str]
    _host: RunHost | None = None
    _opened: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def client(self, user: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30, **kwargs)

    def cli_env(self, user: str) -> dict[str, str]:
        """What `stageline ... --server` reads: the server and the user's token."""
        return {"STAGELINE_SERVER": self.url, "STAGELINE_TOKEN": self.tokens[user]}

    def start_run(self, **vars: str) -> int:
        """A push run of the project's HEAD on the server, by root, authored by alice."""
        from stageline.app import repos, runs
        from stageline.engine.setup import RunOptions

        host = self.host()
        server = host.server
        repo = repos.get_repo(server, "demo")
        sha = repos.fetch(server, repo, "main")
        checkout = repos.checkout(server, repo, sha, "refs/heads/main")
        options = RunOptions(cwd=checkout, event="push", actor="alice", vars=dict(vars))
        [run_id] = host.start(runs.prepare(options), repo, "root", author_email="alice@example.com")
        return run_id

    def host(self) -> RunHost:
        """This process's run host over the server's data dir and store (made once)."""
        if self._host is None:
            server = self._opened.enter_context(open_server(self.data_dir, self.database_url))
            self._host = RunHost(server)
            self._opened.callback(self._host.shutdown, 10)
        return self._host

    def close(self) -> None:
        self._opened.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()


def _cli(cwd: Path, *args: str, stdin: str | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=cwd,
        env=environ,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_team(tmp_path: Path, database_url: str | None) -> Team:
    """Users, tokens and the project registered with the CLI; then `stageline serve`."""
    data_dir = tmp_path / "server"
    where = ["--data-dir", str(data_dir)] + (
        ["--database-url", database_url] if database_url else []
    )
    project = make_project(tmp_path / "project")
    tokens: dict[str, str] = {}
    for name, (role, email) in USERS.items():
        emails = ["--email", email] if email else []
        _cli(tmp_path, "user", "add", name, "--role", role, *emails, *where)
        tokens[name] = _cli(tmp_path, "token", "create", "--user", name, *where).splitlines()[-1]
    _cli(tmp_path, "repo", "add", "demo", "--url", str(project), *where)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "serve", "--port", str(port), *where],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    team = Team(f"http://127.0.0.1:{port}", data_dir, database_url, project, tokens, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"stageline serve exited: {process.communicate()[1]}")
        try:
            if httpx.get(f"{team.url}/api/v1/health", timeout=1).status_code == 200:
                return team
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    team.close()
    raise AssertionError("stageline serve did not become ready in 30s")


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """A server over a SQLite file."""
    started = start_team(tmp_path, None)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def any_team(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Team]:
    """A server over a SQLite file, then over a fresh PostgreSQL database."""
    if request.param == "sqlite":
        started = start_team(tmp_path, None)
        try:
            yield started
        finally:
            started.close()
        return
    with fresh_database() as url:
        started = start_team(tmp_path, url)
        try:
            yield started
        finally:
            started.close()


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    """Poll `check()` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
