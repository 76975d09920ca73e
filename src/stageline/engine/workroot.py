"""Where a run's job directories live: in memory when the machine allows it.

Creating a job's files (its workspace copy, temp directory, file-command files, script)
dominates a short job's overhead: on a busy disk each file create can cost a
millisecond, on tmpfs a few microseconds. So, unless workspaces are kept for the user
to look at (``--keep-workspaces``: ``.stageline/work/<run>``), a run works under a
private directory on tmpfs (`stageline.runner.fast_work_root`, ``/dev/shm`` with room
to spare), which the run removes when it ends. A run whose process was killed leaves
its directory behind; the next run removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from stageline.runner import fast_work_root, remove_tree
from stageline.store.liveness import pid_alive

PREFIX = "stageline-run-"


def run_work_root(disk: Path, run_id: int, *, keep: bool) -> str:
    """The work root of run `run_id`: a new private directory on tmpfs, or `disk`
    (`RunLayout.disk_work_root`) when workspaces are kept or tmpfs has no room."""
    fast = None if keep else fast_work_root()
    if fast is None:
        return str(disk)
    reap(fast)
    try:
        return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{run_id}-", dir=fast)
    except OSError:
        return str(disk)


def reap(directory: str) -> list[str]:
    """Remove the work roots in `directory` left by processes of ours that are gone."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if not entry.name.startswith(PREFIX):
                continue
            pid = entry.name[len(PREFIX) :].split("-", 1)[0]
            with contextlib.suppress(OSError, ValueError):
                mine = entry.stat(follow_symlinks=False).st_uid == os.getuid()
                if mine and not pid_alive(int(pid)):
                    remove_tree(entry.path)
                    removed.append(entry.path)
    return removed
