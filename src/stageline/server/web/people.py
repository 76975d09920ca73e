"""The users page (admins): everyone who can sign in, with their role and emails, and
a form to add one.

Adding is `app.accounts.add_user`, as `stageline user add` and `POST /api/v1/users` do
it (hashed, recorded and audited); a refusal (a bad name or email, a name taken) comes
back in the form with what was typed, never a 500. The password is optional: a user
without one signs in with tokens only, as from the CLI.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageline.app import accounts
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps

router = APIRouter(include_in_schema=False)

_BLANK = {"name": "", "role": accounts.Role.DEVELOPER.value, "emails": ""}


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
        "users.html",
        who,
        status=status,
        error=error,
        notice=notice,
        users=server.store.server.list_users(),
        roles=[role.value for role in accounts.Role],
        typed=typed or _BLANK,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    principal: auth.Admin,
    added: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    notice = f"{added} added." if added else None
    return _render(request, deps.me(principal), notice=notice)


@router.post("/users", response_model=None)
def add_user(
    request: Request,
    principal: auth.Admin,
    name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    emails: Annotated[str, Form(max_length=2000)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    who = deps.me(principal)
    listed = [e for e in emails.replace(",", " ").split() if e]
    try:
        row = accounts.add_user(
            deps.server_of(request),
            name.strip(),
            accounts.Role.parse(role),
            listed,
            password or None,
            by=who.name,
        )
    except StagelineError as err:  # a bad name, role or email, a name taken
        message = f"{err.message} ({err.hint})" if err.hint else err.message
        typed = {"name": name, "role": role, "emails": emails}
        return _render(request, who, error=message, typed=typed, status=400)
    return RedirectResponse(f"/users?{urlencode({'added': row.name})}", status_code=303)


__all__ = ["router"]
