"""Where runs put their job directories: tmpfs unless kept, and leftovers reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stageline.engine import workroot


@pytest.fixture
def shm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /dev/shm: a real directory the module takes for the fast root."""
    fast = tmp_path / "shm"
    fast.mkdir()
    monkeypatch.setattr(workroot, "fast_work_root", lambda: str(fast))
    return fast


def test_a_run_works_in_a_private_directory_of_the_fast_root(shm: Path, tmp_path: Path) -> None:
    root = workroot.run_work_root(tmp_path / "home" / "work" / "7", 7, keep=False)
    assert Path(root).parent == shm and Path(root).is_dir()
    assert Path(root).name.startswith(f"{workroot.PREFIX}{os.getpid()}-7-")
    assert (Path(root).stat().st_mode & 0o777) == 0o700
    other = workroot.run_work_root(tmp_path / "home" / "work" / "7", 7, keep=False)
    assert other != root


def test_kept_workspaces_stay_in_the_store(shm: Path, tmp_path: Path) -> None:
    root = workroot.run_work_root(tmp_path / "home" / "work" / "7", 7, keep=True)
    assert root == str(tmp_path / "home" / "work" / "7")
    assert list(shm.iterdir()) == []


def test_without_a_fast_root_the_store_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workroot, "fast_work_root", lambda: None)
    assert workroot.run_work_root(tmp_path / "work" / "3", 3, keep=False) == str(
        tmp_path / "work" / "3"
    )


def test_directories_of_processes_that_are_gone_are_removed(shm: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = shm / f"{workroot.PREFIX}{gone.pid}-1-abc"
    (dead / "job" / "workspace").mkdir(parents=True)
    (dead / "job" / "workspace" / "f").write_text("x")
    live = shm / f"{workroot.PREFIX}{os.getpid()}-2-abc"
    live.mkdir()
    unrelated = shm / "something-else"
    unrelated.mkdir()
    assert workroot.reap(str(shm)) == [str(dead)]
    assert not dead.exists() and live.exists() and unrelated.exists()


@pytest.mark.skipif(not os.access(workroot.FAST_DIR, os.W_OK), reason="no writable /dev/shm")
def test_any_command_removes_what_a_killed_run_left_on_tmpfs(tmp_path: Path) -> None:
    """A killed run's step scripts carry its secrets: the next command of any kind (here
    one that fails at once, outside a repository) removes them."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = Path(workroot.FAST_DIR) / f"{workroot.PREFIX}{gone.pid}-9-test"
    (left / "job" / "tmp").mkdir(parents=True)
    (left / "job" / "tmp" / "step.sh").write_text("echo s3cr3t-value\n")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stageline", "runs"], cwd=tmp_path, capture_output=True
        )
        assert done.returncode == 1  # no record here: the command itself fails
        assert not left.exists()
    finally:
        workroot.reap(workroot.FAST_DIR)


def test_the_watchdog_removes_a_registered_work_root_when_its_process_dies(
    shm: Path, tmp_path: Path
) -> None:
    import signal

    script = (
        "import sys; from pathlib import Path; from stageline.engine import workroot\n"
        f"workroot.fast_work_root = lambda: {str(shm)!r}\n"
        "root = workroot.run_work_root(Path('unused'), 4, keep=False)\n"
        "Path(root, 'step.sh').write_text('echo s3cr3t-value')\n"
        "print(root, flush=True)\n"
        "sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    root = Path(process.stdout.readline().strip())
    assert (root / "step.sh").exists()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    deadline = time.monotonic() + 30
    while root.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not root.exists()
