"""`RunLayout`: every path of one run under the store's home, and its clean-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.engine import workroot
from stageline.engine.layout import RunLayout


def test_a_run_s_paths_live_under_the_store_home(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, 4)
    assert layout.log_dir == str(tmp_path / "logs" / "4")
    assert RunLayout.logs_root(tmp_path) == tmp_path / "logs"
    assert layout.artifacts_dir == str(tmp_path / "artifacts" / "4")
    assert layout.cache_dir == str(tmp_path / "cache")
    assert layout.disk_work_root == tmp_path / "work" / "4"


def test_the_work_root_is_chosen_once_and_removed_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(workroot, "fast_work_root", lambda: str(shm))
    layout = RunLayout(tmp_path / "home", 4)
    root = layout.work_root()
    assert layout.work_root() == root and Path(root).parent == shm
    (Path(root) / "job").mkdir()
    layout.disk_work_root.mkdir(parents=True)  # what an executor fault left behind
    layout.cleanup()
    assert not Path(root).exists() and not layout.disk_work_root.exists()


def test_kept_workspaces_are_not_removed(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path, 4, keep_workspaces=True)
    assert layout.work_root() == str(tmp_path / "work" / "4")
    layout.disk_work_root.mkdir(parents=True)
    layout.cleanup()
    assert layout.disk_work_root.exists()
