"""`stageline cancel RUN`, as a user types it: a real run in its own process, the real
command, the record read back; and the same through a real team server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app import reads
from stageline.errors import RunError
from tests.app.conftest import make_repo, wait_until
from tests.server.api.conftest import Team, running_team, wait_for
from tests.support.cli import stageline

SLOW_WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "pid $$"; exec sleep 120
      - run: echo never
"""


def _pid_of_step(repo: Path) -> int | None:
    """The step's pid once its log says it (None before the run is recorded)."""
    try:
        for chunk in reads.logs(repo, 1, "build"):
            for line in chunk.lines:
                if line.startswith("pid "):
                    return int(line.removeprefix("pid "))
    except RunError:
        return None
    return None


def test_cancel_stops_a_running_run_and_its_steps(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": SLOW_WORKFLOW})
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=repo,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (repo / ".stageline").is_dir() and _pid_of_step(repo), "the step")
        pid = _pid_of_step(repo)
        assert pid is not None
        done = stageline(repo, "cancel", "1", "--reason", "wrong branch")
        assert done.returncode == 0, done.stderr
        assert "run 1: asked to stop" in done.stderr
        assert process.wait(timeout=60) != 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the step's process tree was killed
    detail = reads.run(repo, 1)
    assert (detail.run.status, detail.run.conclusion) == ("completed", "cancelled")
    steps = {s.name: s.conclusion for job in detail.jobs for s in job.steps}
    assert list(steps.values()) == ["cancelled", "skipped"], steps
    again = stageline(repo, "cancel", "1")
    assert again.returncode == 1 and "run 1 has ended; nothing to cancel" in again.stderr
    missing = stageline(repo, "cancel", "7")
    assert missing.returncode == 1 and "no run 7 in the record" in missing.stderr
    assert "Traceback" not in again.stderr + missing.stderr


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with running_team(tmp_path / "team", None) as started:
        yield started


@pytest.mark.slow
def test_cancel_through_a_server(team: Team) -> None:
    run = team.start_run()
    with team.client("root") as api:
        wait_for(lambda: api.get(f"/runs/{run}").json()["status"] == "waiting", "the gate")
        env = team.cli_env("vera")
        refused = stageline(team.project, "cancel", str(run), env=env)
        assert refused.returncode == 1 and "403" in refused.stderr  # a viewer may not
        done = stageline(team.project, "cancel", str(run), env=team.cli_env("alice"))
        assert done.returncode == 0, done.stderr
        wait_for(lambda: api.get(f"/runs/{run}").json()["status"] == "completed", "cancel")
        assert api.get(f"/runs/{run}").json()["conclusion"] == "cancelled"
