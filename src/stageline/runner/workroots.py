"""What a dead process of ours left on tmpfs: its run's work root, removed at the next
start of any command.

A run's job directories live in a private work root on tmpfs (``/dev/shm``, see
`engine.workroot`), named ``stageline-run-<pid>-<run>-<random>``. Step scripts live
there, and a `run:` script carries the secrets its expressions name, so a killed run
must not leave it behind: its watchdog (`runner.watchdog`) removes it when the process
dies and, should the watchdog have died too, `reap_left` does as any command starts
(the CLI and the worker alike). Cheap and stdlib-only: one directory listing, and
nothing imported unless something is left.
"""

from __future__ import annotations

import contextlib
import os

#: How a work root's name begins (then ``<pid>-<run id>-<random>``).
PREFIX = "stageline-run-"
#: Where `runner.fast_work_root` puts work roots.
FAST_DIR = "/dev/shm"


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
                    from stageline.runner.workspace import remove_tree

                    remove_tree(entry.path)
                    removed.append(entry.path)
    return removed


def reap_left() -> list[str]:
    """Remove the work roots on tmpfs that dead processes of ours left (every command
    calls it as it starts)."""
    return reap(FAST_DIR)
