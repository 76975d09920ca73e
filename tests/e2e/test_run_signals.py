"""Runs that are interrupted, killed, followed, or started twice at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import make_repo, stageline

pytestmark = pytest.mark.slow


def start(repo: Path, *args: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if k != "STAGELINE_HOME"}
    return subprocess.Popen(
        [sys.executable, "-m", "stageline", "run", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise AssertionError(f"stageline ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def hanging_repo(root: Path, marker: Path) -> Path:
    workflow = f"""\
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo started
          sleep 60 &
          echo $! > {marker}
          wait
  after:
    needs: slow
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""
    return make_repo(root, {".github/workflows/ci.yml": workflow})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_cancels_the_run_and_leaves_a_complete_record(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGHUP (a closed terminal, a lost SSH session) is handled as SIGTERM is."""
    marker = tmp_path / "sleep.pid"
    repo = hanging_repo(tmp_path / "app", marker)
    proc = start(repo, "--json")
    sleeper = int(wait_for(marker, proc))
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    document = json.loads(out)
    assert (document["status"], document["conclusion"]) == ("completed", "cancelled")
    assert document["reason"] == f"received {signum.name}"
    jobs = {j["key"]: (j["status"], j["conclusion"]) for j in document["jobs"]}
    assert jobs == {"slow": ("completed", "cancelled"), "after": ("completed", "cancelled")}
    deadline = time.monotonic() + 10
    while alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(sleeper)  # the step's process tree was killed
    shown = json.loads(stageline(repo, "show", str(document["run_id"]), "--json").stdout)
    assert all(s["status"] == "completed" for j in shown["jobs"] for s in j["steps"])


def test_a_killed_stageline_leaves_a_run_that_show_marks_failed(tmp_path: Path) -> None:
    marker = tmp_path / "sleep.pid"
    repo = hanging_repo(tmp_path / "app", marker)
    proc = start(repo)
    sleeper = int(wait_for(marker, proc))
    try:
        proc.kill()
        proc.communicate(timeout=30)
        shown = stageline(repo, "show", "1", "--json")
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert (document["status"], document["conclusion"]) == ("completed", "failure")
        assert f"pid {proc.pid}" in document["reason"]
        assert "ended before the run finished" in document["reason"]
        assert {j["status"] for j in document["jobs"]} == {"completed"}
    finally:
        if alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)


def test_logs_of_a_killed_run_print_what_its_step_wrote(tmp_path: Path) -> None:
    """The step's log path is recorded when the step starts, not when it ends."""
    marker = tmp_path / "sleep.pid"
    repo = hanging_repo(tmp_path / "app", marker)
    proc = start(repo)
    sleeper = int(wait_for(marker, proc))
    try:
        proc.kill()
        proc.communicate(timeout=30)
        shown = stageline(repo, "logs", "1")
        assert shown.returncode == 0, shown.stderr
        assert "started" in shown.stdout.splitlines()
    finally:
        if alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)


def test_two_runs_in_one_repository_at_once(tmp_path: Path) -> None:
    workflow = """\
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 0.5; echo one
  b:
    needs: a
    runs-on: ubuntu-latest
    steps:
      - run: echo two
"""
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    procs = [start(repo, "--json") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    documents = [json.loads(out) for out, _ in results]
    assert sorted(d["number"] for d in documents) == [1, 2]
    assert all(d["conclusion"] == "success" for d in documents)
    listed = json.loads(stageline(repo, "runs", "--json").stdout)
    assert [r["status"] for r in listed] == ["completed", "completed"]


def test_logs_follow_prints_lines_until_the_run_completes(tmp_path: Path) -> None:
    gate = tmp_path / "go"
    workflow = f"""\
on: push
jobs:
  talk:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo first line
          while [ ! -e {gate} ]; do sleep 0.05; done
          echo last line
"""
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    proc = start(repo)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = stageline(repo, "runs", "--json")
        if listed.returncode == 0 and json.loads(listed.stdout):
            break
        time.sleep(0.1)
    follower = subprocess.Popen(
        [sys.executable, "-m", "stageline", "logs", "1", "--follow"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    assert follower.poll() is None  # still following: the run has not completed
    gate.write_text("go")
    out, _ = follower.communicate(timeout=60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert follower.returncode == 0
    assert out.index("first line") < out.index("last line")


def test_cancel_in_progress_across_two_processes(tmp_path: Path) -> None:
    marker = tmp_path / "first.pid"
    workflow = f"""\
on: push
concurrency:
  group: deploy-${{{{ github.ref }}}}
  cancel-in-progress: true
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: |
          if [ ! -e {marker} ]; then
            sleep 60 &
            echo $! > {marker}
            wait
          fi
          echo deployed
"""
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    first = start(repo, "--json")
    wait_for(marker, first)
    second = start(repo, "--json")
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=120)
    assert second.returncode == 0, err2
    assert first.returncode == 1, err1
    older, newer = json.loads(out1), json.loads(out2)
    assert older["conclusion"] == "cancelled"
    assert older["reason"] == (
        f"cancelled by run #{newer['number']} "
        "(concurrency group 'deploy-refs/heads/main', cancel-in-progress)"
    )
    assert newer["jobs"][0]["started_at"] >= older["jobs"][0]["finished_at"]
