"""The team server in tests: source repositories, gated workflows, `stageline serve`
as a real subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.git import git
from tests.support.http import free_port

#: `test`, then `deploy` to production once bob approves.
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
      - run: echo "deployed $GITHUB_SHA"
"""
GATED_CONFIG = """environments:
  production:
    approval:
      rules:
        - {reviewers: [bob], required: 1}
"""
PLAIN_WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
"""


def make_source(root: Path, files: dict[str, str]) -> str:
    """A git repository at `root` (branch main) with `files` committed; the commit's sha."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "alice")
    git(root, "config", "user.email", "alice@example.com")
    return commit(root, files)


def commit(root: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def gated_source(root: Path) -> str:
    return make_source(
        root,
        {".github/workflows/deliver.yml": GATED_WORKFLOW, ".stageline.yml": GATED_CONFIG},
    )


def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def environ(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STAGELINE_HOME", "STAGELINE_DATABASE_URL", "STAGELINE_DATA_DIR")
    }
    return {**env, **extra}


def stageline(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`stageline ARGS` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ(),
        timeout=timeout,
        check=False,
    )


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str, str]:
        """Send `sig`, wait for the exit; (exit code, stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err


@contextmanager
def served(data_dir: Path, *extra: str) -> Iterator[Served]:
    """`stageline serve` on a free port of 127.0.0.1, ready (health 200) when yielded;
    killed at the end of the block if it still runs."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stageline",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ(),
    )
    server = Served(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"stageline serve exited {process.returncode}: {err}{out}")
            try:
                if httpx.get(f"{server.url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("stageline serve did not become ready")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
