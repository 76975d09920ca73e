"""Logging in and out, and the settings page where users manage their own tokens.

The login form is public but CSRF-protected like every form (`auth.check_csrf`, the
double-submit token set with the page): a post without it gets a fresh form, 400. A
failed login is audited by `accounts.authenticate_password` and answered 401 with the
form again. A new token is
shown once, on the page that created it, and never again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stageline.app import accounts
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps

router = APIRouter(include_in_schema=False)
Public = [Depends(auth.public)]
WRONG = "Wrong name or password."
STALE_FORM = "The form was missing its security token or had expired; please log in again."
#: The token lifetimes the form offers ("" never expires).
EXPIRIES = ("7d", "30d", "90d", "")


def _local(path: str | None) -> str:
    """`path` when it is a path on this server, else `/`: no open redirect via `next`."""
    if path and path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return "/"


@router.get("/login", response_class=HTMLResponse, dependencies=Public)
def login_page(request: Request, next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    return deps.page(request, "login.html", None, next=_local(next), username="")


@router.post("/login", response_model=None, dependencies=Public)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    form = {"next": _local(next), "username": username}
    try:
        await auth.check_csrf(request)
    except HTTPException:
        # not an authorisation matter on a public form: the form is stale or forged
        return deps.page(request, "login.html", None, status=400, error=STALE_FORM, **form)
    server = deps.server_of(request)
    user = await run_in_threadpool(accounts.authenticate_password, server, username, password)
    if user is None:
        return deps.page(request, "login.html", None, status=401, error=WRONG, **form)
    response = RedirectResponse(form["next"], status_code=303)
    auth.start_session(request, response, user)
    return response


@router.post("/logout", response_model=None)
def logout(principal: auth.Viewer) -> Response:
    response = RedirectResponse("/login", status_code=303)
    auth.end_session(response)
    return response


def _settings(
    request: Request,
    principal: auth.Principal,
    *,
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    server = deps.server_of(request)
    tokens = server.store.server.list_tokens(principal.user.id)
    return deps.page(
        request,
        "settings.html",
        deps.me(principal),
        status=status,
        tokens=tokens,
        now=datetime.now(UTC),
        **context,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, principal: auth.Viewer) -> HTMLResponse:
    return _settings(request, principal)


@router.post("/settings/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    principal: auth.Viewer,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    expires: Annotated[str, Form(max_length=10)] = "30d",
) -> HTMLResponse:
    if expires not in EXPIRIES:
        return _settings(request, principal, status=400, error=f"unknown expiry {expires!r}")
    try:
        plaintext, row = accounts.create_token(
            deps.server_of(request), principal.user, name, expires or None, by=principal.name
        )
    except StagelineError as err:
        return _settings(request, principal, status=400, error=err.message)
    # shown on this response only: the store keeps its hash
    return _settings(request, principal, new_token=plaintext, new_token_name=row.name)


@router.post("/settings/tokens/{token_id}/revoke", response_model=None)
def revoke_token(request: Request, token_id: deps.Id, principal: auth.Viewer) -> Response:
    try:
        accounts.revoke_token(deps.server_of(request), token_id, principal.user)
    except StagelineError as err:
        return _settings(request, principal, status=404, error=err.message)
    return RedirectResponse("/settings", status_code=303)


__all__ = ["router"]
