"""`GET /api/v1/workers`: the live workers (heard within `LIVE_S`), their queues,
current jobs and last heartbeat, as `stageline workers --json` shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel

from stageline.app import workers
from stageline.server.auth import Viewer
from stageline.server.state import Server

if TYPE_CHECKING:
    from stageline.store.worker_records import WorkerRow

router = APIRouter(tags=["workers"])


class WorkerOut(BaseModel):
    name: str
    queues: list[str]
    concurrency: int
    hostname: str
    pid: int
    version: str
    started_at: datetime
    last_seen: datetime
    #: `{attempt, run_id, job_key}` of each job it runs.
    current: list[dict[str, Any]]

    @classmethod
    def of(cls, row: WorkerRow) -> WorkerOut:
        return cls(
            name=row.name,
            queues=list(row.queues),
            concurrency=row.concurrency,
            hostname=row.hostname,
            pid=row.pid,
            version=row.version,
            started_at=row.started_at,
            last_seen=datetime.fromtimestamp(row.last_seen, UTC),
            current=[dict(c) for c in row.current],
        )


@router.get("/workers", response_model=list[WorkerOut])
def list_workers(principal: Viewer, server: Server) -> list[WorkerOut]:
    """The live workers, by name."""
    return [WorkerOut.of(w) for w in workers.live(server)]


__all__ = ["WorkerOut", "router"]
