"""A run's jobs laid out as the run page draws them: stages as columns of the DAG.

A job's stage is the longest path from a root to it (`workflow.graph.layers`, the one
the CLI's `graph` uses), so build → tests → staging → production read left to right
as in the article's flowchart. The legs of one matrix job share a box; the box's
status is the worst of its legs' (a failed leg fails the box, a running one keeps it
running), so a glance at the columns tells where the run stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stageline.workflow.graph import layers

if TYPE_CHECKING:
    from stageline.store.records import JobRecord

#: Box statuses, the first that any leg has wins.
_PRECEDENCE = (
    "failure",
    "cancelled",
    "timed_out",
    "in_progress",
    "waiting",
    "queued",
    "pending",
    "success",
    "skipped",
    "neutral",
)


@dataclass(frozen=True, slots=True)
class Node:
    """One job of the graph (all its matrix legs) and where it stands."""

    job_id: str
    name: str
    needs: tuple[str, ...]
    legs: tuple[JobRecord, ...]
    status: str

    @property
    def is_matrix(self) -> bool:
        return len(self.legs) > 1 or any(leg.matrix for leg in self.legs)


def status_of(job: JobRecord) -> str:
    """A job's one-word state for colouring: its conclusion once completed, else its status."""
    if job.status == "completed":
        return job.conclusion or "neutral"
    return job.status


def stages(jobs: Sequence[JobRecord]) -> list[list[Node]]:
    """The run's jobs grouped by job id, in columns by stage (file order within one)."""
    legs: dict[str, list[JobRecord]] = {}
    for job in jobs:
        legs.setdefault(job.job_id, []).append(job)
    nodes: dict[str, Node] = {}
    for job_id, mine in legs.items():
        found = {status_of(leg) for leg in mine}
        status = next((s for s in _PRECEDENCE if s in found), sorted(found)[0])
        name = mine[0].name if len(mine) == 1 else job_id
        needs = tuple(dict.fromkeys(n for leg in mine for n in leg.needs))
        nodes[job_id] = Node(job_id, name, needs, tuple(mine), status)
    columns = layers({job_id: node.needs for job_id, node in nodes.items()})
    return [[nodes[job_id] for job_id in column] for column in columns]


__all__ = ["Node", "stages", "status_of"]
