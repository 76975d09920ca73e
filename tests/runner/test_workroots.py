"""Work roots that dead processes left on tmpfs are removed as any command starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.runner import workroots


def test_a_process_that_exists_is_alive() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert workroots.pid_alive(os.getpid()) and not workroots.pid_alive(gone.pid)


def test_directories_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = shm / f"{workroots.PREFIX}{gone.pid}-1-abc"
    (dead / "job" / "workspace").mkdir(parents=True)
    (dead / "job" / "workspace" / "f").write_text("x")
    live = shm / f"{workroots.PREFIX}{os.getpid()}-2-abc"
    live.mkdir()
    unrelated = shm / "something-else"
    unrelated.mkdir()
    assert workroots.reap(str(shm)) == [str(dead)]
    assert not dead.exists() and live.exists() and unrelated.exists()


@pytest.mark.skipif(not os.access(workroots.FAST_DIR, os.W_OK), reason="no writable /dev/shm")
def test_any_command_removes_what_a_killed_run_left_on_tmpfs(tmp_path: Path) -> None:
    """A killed run's step scripts carry its secrets: the next command of any kind (here
    one that fails at once, outside a repository) removes them."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = Path(workroots.FAST_DIR) / f"{workroots.PREFIX}{gone.pid}-9-test"
    (left / "job" / "tmp").mkdir(parents=True)
    (left / "job" / "tmp" / "step.sh").write_text("echo s3cr3t-value\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stageline", "runs"], cwd=tmp_path, capture_output=True
        )
        assert done.returncode == 1  # no record here: the command itself fails
        assert not left.exists()
    finally:
        workroots.reap(workroots.FAST_DIR)
