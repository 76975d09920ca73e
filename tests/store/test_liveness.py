"""One liveness policy for runs, environment holders and rollbacks."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime

from stageline.store.liveness import HOST, STALE_AFTER_S, gone_reason, pid_alive, run_alive


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_process_on_this_host_is_gone_when_its_pid_is() -> None:
    now = datetime.now(UTC)
    assert pid_alive(os.getpid()) and not pid_alive(dead_pid())
    assert gone_reason(os.getpid(), HOST, now) is None
    assert "ended before the run finished" in (gone_reason(dead_pid(), HOST, now) or "")
    assert gone_reason(None, HOST, None) is not None  # nothing to check it by, here


def test_a_silent_process_is_gone_wherever_it_runs() -> None:
    beat = datetime.now(UTC)
    later = time.time() + STALE_AFTER_S + 1
    assert "no heartbeat" in (gone_reason(os.getpid(), HOST, beat, later) or "")
    assert gone_reason(1, "elsewhere", beat) is None
    assert gone_reason(1, "elsewhere", beat, later) is not None
    assert gone_reason(1, "elsewhere", None, later) is None  # nothing says it is gone


def test_a_run_is_alive_while_unfinished_and_its_process_there() -> None:
    beat = datetime.now(UTC)
    assert run_alive("in_progress", os.getpid(), HOST, beat)
    assert not run_alive("completed", os.getpid(), HOST, beat)
    assert not run_alive("waiting", dead_pid(), HOST, beat)
