"""Run, job and step states, named as GitHub names them.

A record has a `status` (where it is in its life) and, once completed, a
`conclusion` (how it ended). `waiting` is a job held at an environment gate (or a
deploy job held for its bake window); `pending` is a run or job held by its
`concurrency` group, as GitHub shows it. `runs.rules` says which changes are allowed.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    PENDING = "pending"
    WAITING = "waiting"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class Conclusion(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


#: Statuses of a run or job that has not ended.
ACTIVE_STATUSES: tuple[Status, ...] = (
    Status.QUEUED,
    Status.PENDING,
    Status.WAITING,
    Status.IN_PROGRESS,
)
