"""The repositories page: each registered repository with its URL and last event, and
for admins a form to register one.

Registering is `app.repos.add_repo`, as `stageline repo add` and `POST /api/v1/repos`
do it (mirrored, then recorded and audited); a refusal (a bad name or URL, a clone that
failed, a name taken) comes back in the form with what was typed, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageline.app import repos
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow, TriggerRow

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class RepoView:
    repo: RepoRow
    last: TriggerRow | None


def _views(server: ServerData) -> list[RepoView]:
    store = server.store.server
    return [
        RepoView(r, next(iter(store.list_triggers(r.id, limit=1)), None))
        for r in deps.repos(server)
    ]


def _render(
    request: Request,
    who: deps.Me,
    *,
    error: str | None = None,
    notice: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    server = deps.server_of(request)
    return deps.page(
        request,
        "repos.html",
        who,
        status=status,
        error=error,
        notice=notice,
        views=_views(server),
        typed=typed or {"name": "", "url": ""},
    )


@router.get("/repos", response_class=HTMLResponse)
def repos_page(
    request: Request,
    principal: auth.Viewer,
    added: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    notice = f"{added} registered." if added else None
    return _render(request, deps.me(principal), notice=notice)


@router.post("/repos", response_model=None)
def add_repo(
    request: Request,
    principal: auth.Admin,
    name: Annotated[str, Form(max_length=100)] = "",
    url: Annotated[str, Form(max_length=1024)] = "",
    webhook_secret: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    who = deps.me(principal)
    try:
        row = repos.add_repo(
            deps.server_of(request), name.strip(), url, webhook_secret or None, by=who.name
        )
    except StagelineError as err:  # a bad name or URL, a failed clone, a name taken
        message = f"{err.message} ({err.hint})" if err.hint else err.message
        return _render(request, who, error=message, typed={"name": name, "url": url}, status=400)
    return RedirectResponse(f"/repos?{urlencode({'added': row.name})}", status_code=303)


__all__ = ["router"]
