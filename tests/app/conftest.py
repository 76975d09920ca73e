"""Real git repositories in tmp dirs for the services, each with its own SQLite record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.git import git

CI = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "building ${{ vars.WHAT || 'it' }}"
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo tested
"""

#: A gated deploy: `test`, then `deploy` to production once bob approves.
GATED_WORKFLOW = """on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo tested
  deploy:
    needs: test
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo "deployed $DEPLOY_NOTE" > "$MARK"
"""
GATED_CONFIG = """users: {alice@example.com: alice}
environments:
  production:
    approval:
      rules: [{reviewers: [bob, carol], required: 1}]
"""


@pytest.fixture(autouse=True)
def _no_stageline_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: no caller's STAGELINE_HOME, STAGELINE_USER, ..."""
    for key in [k for k in os.environ if k.startswith("STAGELINE_")]:
        monkeypatch.delenv(key)


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository at `root` holding `files`, committed on main by alice."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "alice")
    git(root, "config", "user.email", "alice@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {".github/workflows/ci.yml": CI})


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    """A repository whose deploy writes `deployed.txt` next to it (the path in `.env`)."""
    root = make_repo(
        tmp_path / "gated",
        {".github/workflows/deliver.yml": GATED_WORKFLOW, ".stageline.yml": GATED_CONFIG},
    )
    (root / ".env").write_text(f"MARK={tmp_path / 'deployed.txt'}\n")
    return root


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run_in_background(repo: Path) -> subprocess.Popen[str]:
    """`stageline run` in its own process (and session, so a kill reaches it alone)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: the process records nothing more."""
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)


def waiting(repo: Path, run: int = 1) -> bool:
    """Whether run `run` is recorded as waiting (read from its store directly)."""
    from stageline.errors import RunError
    from stageline.store import open_store

    home = repo / ".stageline"
    if not (home / "stageline.db").exists():
        return False
    with open_store(home) as store:
        try:
            return store.runs.get_run(run).run.status == "waiting"
        except RunError:
            return False


@pytest.fixture
def stopped_at_gate(gated: Path) -> Path:
    """The gated repository with run 1 waiting at production's gate, its process killed."""
    process = run_in_background(gated)
    wait_until(lambda: waiting(gated), "the run to wait at its gate")
    kill(process)
    return gated
