"""What the dispatch port (`store.dispatch`, `DispatchStore`) hands out (ADR 0012).

Plain frozen dataclasses, like `store.records`: no ORM row leaves the store package.
Lease times are Unix seconds (floats), as the dispatcher and workers compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: `AttemptRow.state` values; `queued` and `running` are the live ones.
ATTEMPT_STATES = ("queued", "running", "finished", "lost", "cancelled")
LIVE_ATTEMPT_STATES = ("queued", "running")


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One send of a job to a worker: its lease and fencing record."""

    id: str
    run_id: int
    job_key: str
    number: int
    queue: str
    labels: tuple[str, ...]
    state: str
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: float | None
    cancel_requested: str | None
    reason: str | None
    last_seq: int


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A worker as its last heartbeat described it; `current` lists
    `{"attempt", "run_id", "job_key"}` of the jobs it ran then."""

    name: str
    queues: tuple[str, ...]
    concurrency: int
    hostname: str
    pid: int
    version: str
    started_at: datetime
    last_seen: float
    current: tuple[dict[str, Any], ...]


__all__ = ["ATTEMPT_STATES", "LIVE_ATTEMPT_STATES", "AttemptRow", "WorkerRow"]
