"""One pids cgroup per sandboxed job: the wall that stops a fork bomb.

RLIMIT_NPROC cannot be that wall here: the kernel exempts uid 0 of the host (a root
engine's steps map to it, user namespace or not) and counts per user across the whole
machine otherwise. A pids cgroup counts exactly the job's processes and threads, all
of them, whatever they do: a fork past ``pids.max`` fails with EAGAIN.

Job groups live in ``<our pids cgroup>/stageline/<pid>-<name>``: cgroup v1's ``pids``
hierarchy, or cgroup v2 where the pids controller can be enabled there. A group is
removed at the job's end once its processes are killed; groups that a dead engine left
are removed by the next sandboxed run (`reap`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from pathlib import Path

PARENT = "stageline"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, type, options) of the cgroup file systems."""
    found = []
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ("" for cgroup v2's unified hierarchy)."""
    paths = {}
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _candidates() -> list[Path]:
    own = _own_paths()
    found = []
    for mount, kind, options in _mounts():
        if kind == "cgroup" and "pids" in options and "pids" in own:
            found.append(Path(mount + own["pids"].rstrip("/")))
        elif kind == "cgroup2" and "" in own:
            base = Path(mount + own[""].rstrip("/"))
            with contextlib.suppress(OSError):
                if "pids" in (base / "cgroup.controllers").read_text().split():
                    found.append(base)
    return found


def _usable(base: Path) -> Path | None:
    """`base/stageline`, made ready for job groups, or None when it cannot be."""
    parent = base / PARENT
    try:
        parent.mkdir(exist_ok=True)
        if (base / "cgroup.subtree_control").exists():  # v2: delegate the controller
            for node in (base, parent):
                with contextlib.suppress(OSError):
                    (node / "cgroup.subtree_control").write_text("+pids")
        probe = parent / f"{os.getpid()}-probe"
        probe.mkdir(exist_ok=True)
        try:
            ok = (probe / "pids.max").exists()
        finally:
            probe.rmdir()
    except OSError:
        return None
    return parent if ok else None


@functools.cache
def hierarchy() -> Path | None:
    """The directory job groups are made in, found once per process; None when no pids
    cgroup is writable here."""
    for base in _candidates():
        parent = _usable(base)
        if parent is not None:
            reap(parent)
            return parent
    return None


def create(parent: Path, name: str, limit: int) -> Path:
    """A new group for one job, holding at most `limit` processes and threads."""
    group = parent / f"{os.getpid()}-{name}"
    group.mkdir()
    try:
        (group / "pids.max").write_text(str(limit))
    except OSError:
        group.rmdir()
        raise
    return group


def _members(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove(group: Path, patience: float = 5.0) -> None:
    """Kill whatever is still in `group` and remove it (a job's steps are killed before
    this; what is left escaped its process group, and dies here)."""
    deadline = time.monotonic() + patience
    while True:
        for pid in _members(group):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _owner_alive(name: str) -> bool:
    pid = name.split("-", 1)[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(parent: Path) -> None:
    """Remove the job groups of engines that are gone."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if entry.is_dir() and not _owner_alive(entry.name):
                with contextlib.suppress(OSError):
                    remove(entry, patience=0.5)


__all__ = ["create", "hierarchy", "reap", "remove"]
