"""The trigger events list (with the reason of each that started nothing) and, for
admins, the audit log: both read straight from the server's record, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from stageline.app.accounts import audit_log
from stageline.server import auth
from stageline.server.state import MAX_ID
from stageline.server.web import deps

router = APIRouter(include_in_schema=False)

PAGE = 50
Before = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    principal: auth.Viewer,
    before: Before = None,
) -> HTMLResponse:
    server = deps.server_of(request)
    found = server.store.server.list_triggers(limit=PAGE + 1, before=before)
    shown = found[:PAGE]
    return deps.page(
        request,
        "events.html",
        deps.me(principal),
        triggers=shown,
        repo_names={r.id: r.name for r in deps.repos(server)},
        more=shown[-1].id if len(found) > PAGE else None,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: auth.Admin,
    before: Before = None,
) -> HTMLResponse:
    found = audit_log(deps.server_of(request), limit=PAGE + 1, before=before)
    shown = found[:PAGE]
    return deps.page(
        request,
        "audit.html",
        deps.me(principal),
        entries=shown,
        more=shown[-1].id if len(found) > PAGE else None,
    )


__all__ = ["router"]
