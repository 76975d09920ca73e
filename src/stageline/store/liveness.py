"""One policy for "is the process behind this row still there?".

Runs, environment claims and rollbacks all ask it. A process on this host is
gone when its pid is; any process is taken for gone when its heartbeat is older
than `STALE_AFTER_S` (that covers other hosts, and a pid reused on this one). A
row with neither (a rollback on another machine) is assumed alive: nothing says
otherwise.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

from stageline.runner.workroots import pid_alive
from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store.records import RunRecord

HOST = socket.gethostname()

#: A process silent for longer than this is taken for dead, wherever it ran.
STALE_AFTER_S = 60.0


#: How the reason of a deployment its process left in progress begins: the
#: environment's state is unknown until someone decides (`stageline rollback` or
#: `stageline resume`).
INTERRUPTED = "interrupted: "


def interrupted(reason: str) -> str:
    """The reason a deployment left in progress by a dead process is concluded with."""
    return (
        f"{INTERRUPTED}{reason} while deploying; the environment may serve this release, "
        "the one before it, or a mix"
    )


def gone_reason(
    pid: int | None, host: str | None, beat: datetime | None, now: float | None = None
) -> str | None:
    """Why the process (`pid` on `host`, last heard at `beat`) is gone, or None
    (worded for a run, the usual holder)."""
    if host == HOST and (pid is None or not pid_alive(pid)):
        return f"the stageline process (pid {pid} on {host}) ended before the run finished"
    now = time.time() if now is None else now
    if beat is not None and now - beat.timestamp() > STALE_AFTER_S:
        stamp = beat.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"no heartbeat from the stageline process (pid {pid} on {host}) since {stamp}"
    return None


def died(reason: str | None) -> bool:
    """Whether a run's recorded reason says its process died (`gone_reason` wrote it)."""
    return reason is not None and "stageline process (pid " in reason


def reaped(status: str, reason: str | None) -> bool:
    """Whether a run was completed because its process died (`reap`): what it was doing
    was cut short, not concluded, so `stageline resume` may still take it up."""
    return status == Status.COMPLETED and died(reason)


def run_alive(
    status: str, pid: int | None, host: str | None, beat: datetime | None, now: float | None = None
) -> bool:
    """Whether a run is unfinished and its process still there."""
    return status in ACTIVE_STATUSES and gone_reason(pid, host, beat, now) is None


def orphan_reason(run: RunRecord, now: float | None = None) -> str | None:
    """Why an active run is an orphan (its process is gone), or None if it is alive.

    A run that waits at a gate is not an orphan: it is meant to outlive its
    process until it is resumed.
    """
    if run.status not in ACTIVE_STATUSES or run.status == Status.WAITING:
        return None
    return gone_reason(run.pid, run.host, run.heartbeat_at or run.created_at, now)


def reap(
    active: list[RunRecord],
    finish: Callable[[int, str, Conclusion], None],
    now: float | None = None,
) -> list[int]:
    """Finish each of the `active` runs that is an orphan; returns their ids.

    A run that had started is marked failed, one that never started cancelled; the
    reason says what happened.
    """
    reaped = []
    for run in active:
        reason = orphan_reason(run, now)
        if reason is not None:
            finish(run.id, reason, Conclusion.FAILURE if run.started_at else Conclusion.CANCELLED)
            reaped.append(run.id)
    return reaped
