"""Run, job and step states, named as GitHub names them.

A record has a `status` (where it is in its life) and, once completed, a
`conclusion` (how it ended). `waiting` is a job held at an environment gate.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class Conclusion(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

