"""Where one run keeps its files under the store's home (``.stageline/``).

Every path the engine gives an executor or removes at the end is built here, so a
remote worker or a second store implementation has one place to change:

* ``logs/<run>``: the step logs (the store records their paths);
* ``artifacts/<run>``: uploaded artifacts; ``cache``: shared by every run;
* the work root: on tmpfs unless workspaces are kept (`engine.workroot`), else
  ``work/<run>``; chosen when the first job starts, removed when the run ends.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from stageline.engine.workroot import run_work_root
from stageline.runner import remove_tree


class RunLayout:
    """The paths of run `run_id` in the store at `home`."""

    __slots__ = ("_work_root", "home", "keep_workspaces", "run_id")

    def __init__(self, home: Path, run_id: int, *, keep_workspaces: bool = False) -> None:
        self.home = home
        self.run_id = run_id
        self.keep_workspaces = keep_workspaces
        self._work_root: str | None = None

    @staticmethod
    def logs_root(home: Path) -> Path:
        """Where every run's log directory lives (the store records it per run)."""
        return home / "logs"

    @property
    def log_dir(self) -> str:
        return str(self.logs_root(self.home) / str(self.run_id))

    @property
    def artifacts_dir(self) -> str:
        return str(self.home / "artifacts" / str(self.run_id))

    @property
    def cache_dir(self) -> str:
        return str(self.home / "cache")

    @property
    def disk_work_root(self) -> Path:
        return self.home / "work" / str(self.run_id)

    def work_root(self) -> str:
        """The run's work root, chosen (and on tmpfs created) on first use."""
        if self._work_root is None:
            self._work_root = run_work_root(
                self.disk_work_root, self.run_id, keep=self.keep_workspaces
            )
        return self._work_root

    def cleanup(self) -> None:
        """Remove the work root (executors remove their workspaces; this catches what an
        executor fault left behind) unless workspaces are kept."""
        if self.keep_workspaces:
            return
        disk = self.disk_work_root
        shutil.rmtree(disk, ignore_errors=True)
        if self._work_root is not None and self._work_root != str(disk):
            remove_tree(self._work_root)
