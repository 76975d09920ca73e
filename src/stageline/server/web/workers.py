"""The workers page (ADR 0012): each live worker with its queues, the jobs it runs now
and its last heartbeat (`app.workers.live`, as `stageline workers` lists them)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from stageline.app import workers
from stageline.server import auth
from stageline.server.web import deps

router = APIRouter(include_in_schema=False)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, principal: auth.Viewer) -> HTMLResponse:
    server = deps.server_of(request)
    rows = workers.live(server)
    seen = {w.name: datetime.fromtimestamp(w.last_seen, UTC) for w in rows}
    return deps.page(request, "workers.html", deps.me(principal), workers=rows, seen=seen)


__all__ = ["router"]
