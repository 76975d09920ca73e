"""The pids cgroups of sandboxed jobs: made with their limit, emptied and removed, and
those a dead engine left reaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stageline.executors import pids


@pytest.fixture
def parent() -> Path:
    found = pids.hierarchy()
    assert found is not None, "the sandbox needs a writable pids cgroup on this machine"
    return found


def test_a_group_bounds_its_processes_and_goes_with_them(parent: Path) -> None:
    group = pids.create(parent, "test-bound", 8)
    assert (group / "pids.max").read_text().strip() == "8"
    forks = (
        "import os, time\nn = 0\ntry:\n    while n < 50:\n        if os.fork() == 0:\n"
        "            os.close(1); os.close(2); time.sleep(60); os._exit(0)\n"
        "        n += 1\nexcept OSError:\n    print(n)\n"
    )
    script = f'echo $$ > {group}/cgroup.procs && exec {sys.executable} -c "$0"'
    done = subprocess.run(["sh", "-c", script, forks], capture_output=True, text=True, timeout=60)
    assert int(done.stdout) < 8  # the shell became python: it and its children fit in 8
    assert pids._members(group), "the sleeping children are still in the group"
    pids.remove(group)
    assert not group.exists()


def test_groups_of_dead_engines_are_reaped_live_ones_kept(parent: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = parent / f"{dead.pid}-left-behind"
    left.mkdir()
    mine = pids.create(parent, "test-live", 16)
    pids.reap(parent)
    assert not left.exists()
    assert mine.exists()
    pids.remove(mine)
