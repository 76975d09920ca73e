"""The workers a server knows (ADR 0012), for `stageline workers`, the API and the UI."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stageline.worker.protocol import LIVE_S

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.worker_records import WorkerRow


def live(server: ServerData, *, live_s: float = LIVE_S) -> list[WorkerRow]:
    """The workers heard from within `live_s`, by name."""
    return server.store.dispatch.list_workers(seen_since=time.time() - live_s)


def document(row: WorkerRow) -> dict[str, Any]:
    """A worker as `GET /api/v1/workers` and `stageline workers --json` show it."""
    return {
        "name": row.name,
        "queues": list(row.queues),
        "concurrency": row.concurrency,
        "hostname": row.hostname,
        "pid": row.pid,
        "version": row.version,
        "started_at": row.started_at.isoformat(),
        "last_seen": datetime.fromtimestamp(row.last_seen, UTC).isoformat(),
        "current": [dict(c) for c in row.current],
    }


__all__ = ["document", "live"]
