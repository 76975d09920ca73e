"""A deployable world for the delivery end-to-end tests.

* a git repository whose workflow tests and deploys with `deploy.sh`: a deploy writes
  the commit's `release.txt` into `<state>/current` (and appends a line to
  `<state>/deploys.log` saying whether it was a rollback);
* the environment, a real HTTP server on 127.0.0.1 whose `/health` reads
  `<state>/current`: 200 "ok" for a good release, 503 once a release containing
  "bad" is deployed (the cue), and whose `/api/v1/query` serves canned Prometheus
  answers (tests.deploy.servers);
* `stageline` run as a user runs it: `python -m stageline` subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.servers import Service, serve
from tests.support import cli
from tests.support.git import git

DEPLOY_SH = """#!/bin/sh
set -e
: "${STATE_DIR:?STATE_DIR is not set}"
release=$(cat release.txt)
echo "$release" > "$STATE_DIR/current"
echo "$release rollback=${STAGELINE_ROLLBACK:-false}" >> "$STATE_DIR/deploys.log"
echo "deployed $release"
"""

WORKFLOW = """name: Deliver
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
  deploy:
    needs: test
    runs-on: ubuntu-latest
    environment: {environment}
    steps:
      - uses: actions/checkout@v4
      - run: ./deploy.sh
"""


class Environment(Service):
    """A service whose health follows the release deployed into `state`."""

    def __init__(self, state: Path) -> None:
        super().__init__()
        self.state = state

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, str]:
        if path == "/health":
            current = self.state / "current"
            release = current.read_text().strip() if current.exists() else ""
            self.healthy = bool(release) and "bad" not in release
        return super().handle(path, query)


@contextmanager
def environment(tmp_path: Path) -> Iterator[Environment]:
    state = tmp_path / "state"
    state.mkdir()
    with serve(Environment(state)) as env:
        yield env


@dataclass
class Repo:
    path: Path
    state: Path

    def commit(self, release: str, files: dict[str, str] | None = None) -> str:
        """Commit `release` (and `files`); returns the new commit's sha."""
        (self.path / "release.txt").write_text(release + "\n")
        for name, text in (files or {}).items():
            (self.path / name).write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", release)
        return git(self.path, "rev-parse", "HEAD")

    def deploys(self) -> list[str]:
        log = self.state / "deploys.log"
        return log.read_text().splitlines() if log.exists() else []

    def current(self) -> str:
        return (self.state / "current").read_text().strip()


def make_repo(
    tmp_path: Path,
    state: Path,
    config: str,
    *,
    environment: str = "staging",
    workflow: str | None = None,
    branch: str = "main",
    release: str = "v1",
) -> Repo:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "deliver.yml").write_text(
        workflow or WORKFLOW.format(environment=environment)
    )
    (root / "deploy.sh").write_text(DEPLOY_SH)
    (root / "deploy.sh").chmod(0o755)
    (root / ".stageline.yml").write_text(config)
    (root / ".gitignore").write_text(".stageline/\n.env\n")
    (root / ".env").write_text(f"STATE_DIR={state}\n")
    git(root, "init", "-q", "-b", branch)
    git(root, "config", "user.name", "alice")
    git(root, "config", "user.email", "alice@example.com")
    repo = Repo(root, state)
    repo.commit(release)
    return repo


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STAGELINE_HOME", "STAGELINE_USER")}
    env.update(extra)
    return env


def stageline(
    repo: Repo, *args: str, user: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    extra = {"STAGELINE_USER": user} if user else {}
    return cli.stageline(repo.path, *args, env=extra, timeout=timeout)


def start_run(repo: Repo, *args: str, user: str = "alice") -> subprocess.Popen[str]:
    """`stageline run` in the background (its own session, so a kill reaches it alone)."""
    return subprocess.Popen(
        [sys.executable, "-m", "stageline", "run", *args],
        cwd=repo.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ(STAGELINE_USER=user),
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: the process gets no chance to record anything."""
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)


def show(repo: Repo, run: int = 1) -> dict[str, Any]:
    """`stageline show RUN --json`."""
    done = stageline(repo, "show", str(run), "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def deployments(repo: Repo, *, cli: bool = False) -> list[dict[str, Any]]:
    """Deployment records, oldest first: through `stageline deployments --json` with
    `cli`, else straight from the store (a process per look is slow)."""
    if cli:
        done = stageline(repo, "deployments", "--json")
        assert done.returncode == 0, done.stderr
        return list(reversed(json.loads(done.stdout)))
    from stageline.cli.deploys import describe
    from stageline.store import open_store

    with open_store(repo.path / ".stageline") as store:
        return [describe(row) for row in store.deployments.list_deployments(str(repo.path))]


def wait_until(check: Callable[[], Any], timeout: float = 30, what: str = "the condition") -> Any:
    """Poll `check` until it returns something truthy (an end condition, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_job(repo: Repo, run: int = 1) -> dict[str, Any] | None:
    """The run's waiting job once the run shows as waiting (else None). Read from the
    store directly: polling through `stageline show` would cost a process per look."""
    from stageline.errors import RunError
    from stageline.store import open_store
    from stageline.store.records import jsonable

    home = repo.path / ".stageline"
    if not (home / "stageline.db").exists():
        return None
    with open_store(home) as store:
        try:
            detail = store.runs.get_run(run)
        except RunError:  # not created yet
            return None
    if detail.run.status != "waiting":
        return None
    job = next((j for j in detail.jobs if j.status == "waiting"), None)
    return dict(jsonable(job)) if job is not None else None


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in document["jobs"]}


def monitor(service: Environment, *, duration: str = "1s", extra: str = "") -> str:
    return f"""    monitor:
      duration: {duration}
      interval: 100ms
      checks:
        - name: health
          http: {{url: {service.url}/health, status: 200, body_contains: ok}}
          failure_limit: 1
{extra}"""
