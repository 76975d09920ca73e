"""Where runs put their job directories: tmpfs unless kept, and leftovers reaped."""

from __future__ import annotations

import os
import subprocess
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
