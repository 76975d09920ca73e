"""A step's process tree dies with the process that runs it, SIGKILL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stageline.runner import watchdog as watchdog_module
from tests.runner.test_process import alive

#: A process that runs one step the way the engine does, until it is killed. The step
#: starts a background child and then sleeps; both record their pids.
RUNNER = """
import asyncio, os, sys
from stageline.runner.process import ProcessGroups, run_process

async def main() -> None:
    await run_process(
        ["bash", "-c", sys.argv[1]],
        cwd=os.getcwd(),
        env={"PATH": os.environ["PATH"]},
        on_line=lambda line, more: print(line, flush=True),
        on_late_line=lambda line, more: None,
        groups=ProcessGroups(),
        cancel=asyncio.Event(),
        deadline=None,
    )

asyncio.run(main())
"""

STEP = "sleep 120 & echo $! > child.pid; echo $$ > step.pid; sleep 120"


def wait_until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Poll `check` until true (an end condition, not a timing)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_runner(tmp_path: Path, step: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, step],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        start_new_session=True,  # a kill of its group reaches the runner alone
    )


def pids(tmp_path: Path) -> list[int]:
    wait_until(
        lambda: all((tmp_path / f).exists() and (tmp_path / f).read_text() for f in NAMES),
        "the step to start",
    )
    return [int((tmp_path / f).read_text()) for f in NAMES]


NAMES = ("step.pid", "child.pid")


def test_a_killed_runner_takes_its_steps_and_their_children_with_it(tmp_path: Path) -> None:
    runner = start_runner(tmp_path, STEP)
    step, child = pids(tmp_path)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner's group: not the step's session
    runner.communicate(timeout=10)
    wait_until(lambda: not alive(step) and not alive(child), "the step's processes to die")


def test_the_watchdog_kills_the_groups_still_registered_at_end_of_file() -> None:
    """Once a job has reaped a group, its id may be reused: a forgotten group is spared."""
    registered = subprocess.Popen(["sleep", "120"], start_new_session=True)
    forgotten = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog_module.__file__], stdin=subprocess.PIPE
        )
        lines = f"+{registered.pid}\n+{forgotten.pid}\n-{forgotten.pid}\n"
        watchdog.communicate(lines.encode(), timeout=30)  # end of file: the runner died
        assert registered.wait(timeout=30) == -signal.SIGTERM
        assert forgotten.poll() is None
    finally:
        for process in (registered, forgotten):
            process.kill()
            process.wait()


def test_a_step_not_yet_registered_is_found_by_its_mark() -> None:
    """The runner may die between starting a step and registering its group: the step
    and what it started carry the watchdog's token in their environment."""
    environ = {**os.environ, watchdog_module.MARK: "token-1"}
    marked = subprocess.Popen(["sleep", "120"], env=environ, start_new_session=True)
    other = subprocess.Popen(["sleep", "120"], env={**environ, watchdog_module.MARK: "token-2"})
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog_module.__file__, "token-1"],
            stdin=subprocess.PIPE,
        )
        watchdog.communicate(b"", timeout=30)
        assert marked.wait(timeout=30) == -signal.SIGTERM
        assert other.poll() is None
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()


def test_removing_a_work_root_touches_nothing_outside_it(tmp_path: Path) -> None:
    """The work root's parent is /dev/shm, shared by every program on the machine: its
    mode must survive a removal, of a missing root (the run removed it) too."""
    parent = tmp_path / "shm"
    parent.mkdir()
    parent.chmod(0o1777)
    root = parent / "stageline-run-1-1-x"
    (root / "job" / "locked").mkdir(parents=True)
    (root / "job" / "locked" / "step.sh").write_text("echo secret")
    (root / "job" / "locked").chmod(0o500)
    watchdog_module.remove_dir(str(root))
    assert not root.exists()
    watchdog_module.remove_dir(str(root))  # gone already
    assert parent.stat().st_mode & 0o7777 == 0o1777
