"""What every page needs: the server's data, who is asking, and a page renderer.

Pages declare who may see them with the core's `auth.require(Role.X)` (ADR 0011), so the
route x role test covers them like the API; this module adapts its `Principal` for the
templates and fills in what every page shows: the user, and the CSRF token its forms
post back (the session's; before login, the double-submit token `auth` sets a cookie
for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from stageline.app.accounts import Role
from stageline.server import auth
from stageline.server.state import MAX_ID, server_of
from stageline.server.web.render import templates

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow


#: A run's or token's id in a page's path (bounded: the store's ids are 32-bit).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
#: A registered repository's name in a page's query (None: all, or the only one).
RepoName = Annotated[str | None, Query(max_length=100)]


@dataclass(frozen=True, slots=True)
class Me:
    """The signed-in user as templates see them, with their session's form token."""

    name: str
    role: Role
    user_id: int
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_developer(self) -> bool:
        """May trigger, cancel and re-run."""
        return self.role >= Role.DEVELOPER


def me(principal: auth.Principal) -> Me:
    return Me(principal.name, principal.role, principal.user.id, principal.csrf)


def repos(server: ServerData) -> list[RepoRow]:
    return server.store.server.list_repos()


def page(
    request: Request,
    template: str,
    who: Me | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """`template` rendered with the user and the token of its forms."""
    cookies = Response()
    csrf = who.csrf if who is not None else auth.csrf_token(request, cookies)
    context.update(me=who, csrf=csrf)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    for name, value in cookies.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, value))
    return response


def fragment(request: Request, template: str, who: Me, **context: Any) -> str:
    """A partial template rendered to a string (a live update)."""
    context.update(request=request, me=who, csrf=who.csrf)
    return templates.get_template(template).render(context)


__all__ = ["Id", "Me", "RepoName", "fragment", "me", "page", "repos", "server_of"]
