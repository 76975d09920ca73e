"""Where runs put their job directories: tmpfs unless kept (leftovers: runner.workroots)."""

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
