"""A real `stageline serve` for the web tests: a subprocess on a free port over a data
dir made with the real CLI (`user add`, `repo add`), and a repository to push to.

The repository's pipeline is small but has what the pages show: a log with ANSI
colours, a `::group::` and a warning annotation, a step summary, a matrix, a staging
deploy and a production deploy behind an approval rule that forbids self-review; a
second workflow runs only by hand, with typed inputs, and a third deploys to a canary
whose monitor always fails.
Its commits are authored by alice, a reviewer, so she may not approve her own run.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.cli import stageline
from tests.support.git import git

WORKFLOW = """name: Deliver
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Compile
        run: |
          echo "::group::Compiler output"
          printf '\\033[32mcompiled\\033[0m <all> files\\n'
          echo "::endgroup::"
          echo "::warning file=app.py,line=3::unused import"
          for i in $(seq 1 10); do echo "progress $i"; sleep 0.5; done
          echo "### Build report" >> "$GITHUB_STEP_SUMMARY"
          echo "- **3** files <b>compiled</b>" >> "$GITHUB_STEP_SUMMARY"
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps:
      - run: echo "testing on ${{ matrix.python }}"
  deploy-staging:
    needs: test
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - run: echo "staging gets $(cat release.txt)"
  deploy-production:
    needs: deploy-staging
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo shipping to production
"""

HELLO = """name: Hello
on:
  workflow_dispatch:
    inputs:
      who: {type: string, required: true}
      nap: {type: number, default: 0}
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - run: echo "hello ${{ inputs.who }}" && sleep ${{ inputs.nap }}
"""

CANARY = """name: Canary
on: workflow_dispatch
jobs:
  deploy-canary:
    runs-on: ubuntu-latest
    environment: canary
    steps:
      - run: echo canary
"""

CONFIG = """environments:
  staging: {}
  canary:
    monitor:
      duration: 2s
      interval: 200ms
      checks:
        - {name: smoke, command: "echo smoke is bad; exit 3"}
    rollback: {mode: manual}
  production:
    approval:
      prevent_self_review: true
      rules:
        - {reviewers: ['@release-managers'], required: 1}
teams:
  release-managers: [alice, bob]
"""

PASSWORD = "correct horse battery staple"
#: name → role; alice authors the commits.
USERS = {
    "admin": "admin",
    "alice": "reviewer",
    "bob": "reviewer",
    "dave": "developer",
    "eve": "viewer",
}
REPO = "shop"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr or done.stdout
    return done.stdout


@dataclass
class World:
    """A data dir with users and a registered repository, and the repository's clone."""

    data_dir: Path
    work: Path
    bare: Path
    secret: Path

    def install_hook(self, server_url: str) -> None:
        """Make pushes to the bare repository trigger the server (`hook install`)."""
        _ok(
            stageline(
                self.work, "hook", "install", str(self.bare), "--server", server_url,
                "--repo", REPO, "--secret-file", str(self.secret),
            )
        )  # fmt: skip

    def push(self, release: str) -> str:
        """Commit `release` and push it to main: the hook tells the server. Its sha."""
        return self.push_branch("main", release)

    def push_branch(self, branch: str, release: str) -> str:
        """Commit `release` on the branch checked out and push it as `branch`. Its sha."""
        sha = self.commit(release)
        git(self.work, "push", "-q", "origin", f"HEAD:{branch}")
        return sha

    def commit(self, release: str) -> str:
        """Commit `release` as release.txt on main (authored by alice); its sha."""
        (self.work / "release.txt").write_text(release + "\n")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"release {release}")
        return git(self.work, "rev-parse", "HEAD")


def make_world(tmp: Path) -> World:
    data_dir = tmp / "server"
    work, bare = tmp / "work", tmp / "shop.git"
    (work / ".github" / "workflows").mkdir(parents=True)
    (work / ".github" / "workflows" / "deliver.yml").write_text(WORKFLOW)
    (work / ".github" / "workflows" / "hello.yml").write_text(HELLO)
    (work / ".github" / "workflows" / "canary.yml").write_text(CANARY)
    (work / ".stageline.yml").write_text(CONFIG)
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp, "init", "-q", "-b", "main", str(work))
    git(work, "config", "user.name", "Alice")
    git(work, "config", "user.email", "alice@example.com")
    git(work, "remote", "add", "origin", str(bare))
    secret = tmp / "webhook.secret"
    secret.write_text("s3cret-for-tests\n")
    world = World(data_dir, work, bare, secret)
    world.commit("v0")
    git(work, "push", "-q", "origin", "main")
    for name, role in USERS.items():
        done = subprocess.run(
            [sys.executable, "-m", "stageline", "user", "add", name, "--role", role,
             "--email", f"{name}@example.com", "--password-stdin", "--data-dir", str(data_dir)],
            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        _ok(done)
    _ok(
        stageline(
            tmp, "repo", "add", REPO, "--url", str(bare), "--webhook-secret-file", str(secret),
            "--data-dir", str(data_dir),
        )
    )  # fmt: skip
    return world


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serve(data_dir: Path, log: Path) -> Iterator[Server]:
    """`stageline serve` on a free port until the block ends (then SIGTERM)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stageline", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(url, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


def log_in(client: httpx.Client, name: str, password: str = PASSWORD) -> str:
    """Log `client` in through the login form; the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    done = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/settings").text)


def wait_for(check: object, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `check()` until it is truthy."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
