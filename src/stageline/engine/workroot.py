"""Where a run's job directories live: in memory when the machine allows it.

Creating a job's files (its workspace copy, temp directory, file-command files, script)
dominates a short job's overhead: on a busy disk each file create can cost a
millisecond, on tmpfs a few microseconds. So, unless workspaces are kept for the user
to look at (``--keep-workspaces``: ``.stageline/work/<run>``), a run works under a
private directory on tmpfs (`stageline.runner.fast_work_root`, ``/dev/shm`` with room
to spare), which the run removes when it ends. Step scripts live there, and a
`run:` script carries the secrets its expressions name (as on GitHub), so a run whose
process was killed must not leave it behind: its watchdog (`runner.watchdog`) removes
it when the process dies, and, should the watchdog have died too, the next start of
any command does (`runner.workroots.reap_left`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from stageline.runner.workroots import PREFIX, reap


def run_work_root(disk: Path, run_id: int, *, keep: bool) -> str:
    """The work root of run `run_id`: a new private directory on tmpfs, or `disk`
    (`RunLayout.disk_work_root`) when workspaces are kept or tmpfs has no room."""
    from stageline.runner.watchdog import WATCHDOG

    fast = None if keep else fast_work_root()
    if fast is None:
        return str(disk)
    reap(fast)
    try:
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{run_id}-", dir=fast)
    except OSError:
        return str(disk)
    WATCHDOG.watch_dir(path)
    return path


def fast_work_root() -> str | None:
    """`runner.fast_work_root` (imported when a run needs it, not by every command)."""
    from stageline.runner import fast_work_root as fast

    return fast()
