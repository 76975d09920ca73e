"""The web UI (ADR 0011): server-rendered Jinja2 pages with htmx, readable without JS.

`install(app)` adds the pages' routers, the static files (htmx and its SSE extension
are vendored there: no Node build step), and HTML answers to errors on pages: a
browser that asks for a page without a session gets the login form, with status 401
as every protected route answers; other errors get a short page with the same
status. The API and webhooks keep their problem+json answers.

* `account`      — log in, log out, the settings page (own tokens)
* `runs`         — the runs list, a run (job graph by stage), a job (its live log)
* `control`      — cancel, re-run, run a workflow by hand (developers)
* `decisions`    — the approval panel's form
* `environments` — deployments, monitor results, DORA figures, rollback
* `records`      — trigger events, the audit log (admins)
* `repositories` — the registered repositories; registering one (admins)
* `people` — the users, and adding one (admins)
* `workers`      — the live workers, their queues and current jobs (ADR 0012)
* `live`         — SSE streams of re-rendered fragments
* `ansi`, `logview`, `jobgraph`, `charts`, `approvals` — what the pages show, computed
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from stageline.server import auth
from stageline.server.web import (
    account,
    control,
    decisions,
    environments,
    people,
    records,
    repositories,
    runs,
    workers,
)
from stageline.server.web.deps import page
from stageline.server.web.render import STATIC_DIR

ROUTERS = [
    account.router,
    runs.router,
    control.router,
    decisions.router,
    environments.router,
    records.router,
    repositories.router,
    people.router,
    workers.router,
]
STATIC_PATH = "/static"
#: Paths whose errors stay problem+json whatever the client accepts.
_MACHINE_PREFIXES = ("/api/", "/hooks/")


def _wants_page(request: Request) -> bool:
    path = request.url.path
    accepts = request.headers.get("accept", "")
    return not path.startswith(_MACHINE_PREFIXES) and "text/html" in accepts


def install(app: FastAPI) -> None:
    """Add the UI to `app` (after `problems.install`, whose handler it falls back to)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    auth.declare_public(app, STATIC_PATH)
    fallback = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _wants_page(request):
            answer = fallback(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        if exc.status_code == 401:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return page(request, "login.html", None, status=401, next=here, username="")
        detail = exc.detail if isinstance(exc.detail, str) else ""
        title = {403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Error")
        return page(request, "error.html", None, status=exc.status_code, title=title, detail=detail)

    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = ["ROUTERS", "STATIC_PATH", "install"]
