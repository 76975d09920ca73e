"""Who is asking, and may they: bearer tokens, session cookies, CSRF, route rules.

A request is authenticated by `Authorization: Bearer slt_...` (an API token,
`app.accounts`) or by the session cookie a login sets: signed with the server's
secret key (itsdangerous), carrying the user id, an expiry and the session's CSRF
token; HttpOnly, SameSite=Lax. A bad bearer token is refused (401), never taken as
"no credentials"; a forged or expired cookie is no session.

Every route declares its rule with exactly one dependency: `require(Role.X)` (returns
the `Principal`; 401 without credentials, 403 below the role), `public` or `signed`
(webhooks, which check their own signature). `route_rules(app)` lists them for the
route x role test; a route without one shows as None there.

CSRF: a state-changing request authenticated by the cookie must carry the session's
token (form field `csrf_token` or header `X-CSRF-Token`); `require` checks it. Before
login (the login form) `check_csrf` compares the field with a signed double-submit
cookie that `csrf_token(request, response)` sets.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.server.state import server_of

if TYPE_CHECKING:
    from fastapi.dependencies.models import Dependant

    from stageline.store.server_records import UserRow

SESSION_COOKIE = "stageline_session"
CSRF_COOKIE = "stageline_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: How long a session lasts after login (seconds) unless the settings say otherwise.
SESSION_MAX_AGE_S = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of a request, and how they proved it."""

    user: UserRow
    role: Role
    via: Literal["token", "session"]
    #: The session's CSRF token (sessions only).
    csrf: str = ""

    @property
    def name(self) -> str:
        return self.user.name


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may call a route: `kind` ``role`` (with the least `role`), ``public``,
    ``signed``, or ``agent`` (a worker machine's account, or an admin: ADR 0012)."""

    kind: Literal["role", "public", "signed", "agent"]
    role: Role | None = None

    def __str__(self) -> str:
        return f"require({self.role.value})" if self.role else self.kind


_RULE_ATTR = "__stageline_rule__"


def _serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(server_of(request).secret_key, salt=salt)


def _max_age(request: Request) -> int:
    return int(getattr(request.app.state, "session_max_age", SESSION_MAX_AGE_S))


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="stageline"'})


def authenticate(request: Request) -> Principal | None:
    """The request's principal; None without credentials (or with a forged, expired
    or stale session cookie). Raises 401 for a bearer token that is not valid."""
    server = server_of(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        user = accounts.authenticate_token(server, value.strip())
        if user is None:
            raise _unauthorized("the token is not valid (unknown, revoked or expired)")
        return Principal(user, accounts.role_of(user), "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        data = _serializer(request, "session").loads(cookie, max_age=_max_age(request))
        user_id, csrf = int(data["u"]), str(data["c"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    found = server.store.server.get_user_by_id(user_id)
    if found is None:
        return None
    return Principal(found, accounts.role_of(found), "session", csrf)


def start_session(request: Request, response: Response, user: UserRow) -> str:
    """Log `user` in on `response` (sets the session cookie); the session's CSRF token."""
    csrf = secrets.token_urlsafe(24)
    value = _serializer(request, "session").dumps({"u": user.id, "c": csrf})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=_max_age(request),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return csrf


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: Request, response: Response) -> str:
    """The token a form must post back: the session's, else a double-submit token
    whose signed copy goes in a cookie set on `response`."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            data = _serializer(request, "session").loads(cookie, max_age=_max_age(request))
            return str(data["c"])
        except (BadSignature, KeyError, TypeError):
            pass
    existing = _anonymous_csrf(request)
    if existing:
        return existing
    token = secrets.token_urlsafe(24)
    signed = _serializer(request, "csrf").dumps(token)
    response.set_cookie(CSRF_COOKIE, signed, httponly=True, samesite="lax", path="/")
    return token


def _anonymous_csrf(request: Request) -> str | None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie:
        return None
    try:
        return str(_serializer(request, "csrf").loads(cookie, max_age=_max_age(request)))
    except BadSignature:
        return None


async def _posted_csrf(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER)
    if sent:
        return sent
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def check_csrf(request: Request) -> None:
    """403 unless a state-changing request carries its CSRF token: the session's when
    logged in by cookie, else the double-submit cookie's (the login form)."""
    if request.method in _SAFE_METHODS or request.headers.get("authorization"):
        return
    posted = await _posted_csrf(request)
    principal = await run_in_threadpool(authenticate, request)
    expected = principal.csrf if principal is not None and principal.via == "session" else None
    if expected is None:
        expected = _anonymous_csrf(request) or ""
    if not _same(posted, expected):
        raise HTTPException(403, "missing or invalid CSRF token; reload the form and try again")


_REQUIRED: dict[Role, Callable[[Request], Coroutine[Any, Any, Principal]]] = {}


def require(role: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """The dependency of a route `role` and above may call; it returns the `Principal`.
    Use as `principal: Principal = Depends(require(Role.DEVELOPER))`."""
    found = _REQUIRED.get(role)
    if found is not None:
        return found

    async def dependency(request: Request) -> Principal:
        principal = await run_in_threadpool(authenticate, request)
        if principal is None:
            raise _unauthorized("authentication required: log in, or send a bearer token")
        if principal.role < role:
            raise HTTPException(
                403, f"this needs the {role.value} role; {principal.name} is {principal.role.value}"
            )
        if principal.via == "session" and request.method not in _SAFE_METHODS:
            posted = await _posted_csrf(request)
            if not _same(posted, principal.csrf):
                raise HTTPException(
                    403, "missing or invalid CSRF token; reload the page and try again"
                )
        return principal

    dependency.__name__ = f"require_{role.value}"
    setattr(dependency, _RULE_ATTR, Rule("role", role))
    _REQUIRED[role] = dependency
    return dependency


#: A route's principal, and its rule: `def route(principal: Developer) -> ...`.
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Developer = Annotated[Principal, Depends(require(Role.DEVELOPER))]
Reviewer = Annotated[Principal, Depends(require(Role.REVIEWER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


async def _agent(request: Request) -> Principal:
    """The dependency of the routes workers call: the `worker` role or `admin` only, so
    that no viewer or developer can post a job's events or read its secrets."""
    principal = await run_in_threadpool(authenticate, request)
    if principal is None:
        raise _unauthorized("authentication required: send the worker's bearer token")
    if principal.role not in (Role.WORKER, Role.ADMIN):
        raise HTTPException(
            403, f"this needs the worker or admin role; {principal.name} is {principal.role.value}"
        )
    return principal


setattr(_agent, _RULE_ATTR, Rule("agent"))
#: The principal of a route only workers (and admins) may call.
Agent = Annotated[Principal, Depends(_agent)]


def public() -> None:
    """The dependency of a route anyone may call (health, the login page, static files)."""


def signed() -> None:
    """The dependency of a route that checks its own signature (webhooks)."""


setattr(public, _RULE_ATTR, Rule("public"))
setattr(signed, _RULE_ATTR, Rule("signed"))


def declare_public(app: FastAPI, path: str) -> None:
    """Mark a route that is not an `APIRoute` (a static mount, the OpenAPI document) public."""
    declared: set[str] = app.state.__dict__.setdefault("public_paths", set())
    declared.add(path)


def _rules_of(dependant: Dependant) -> list[Rule]:
    found: list[Rule] = []
    for dep in dependant.dependencies:
        rule = getattr(dep.call, _RULE_ATTR, None)
        if isinstance(rule, Rule):
            found.append(rule)
        found += _rules_of(dep)
    return found


def route_rules(app: FastAPI) -> dict[tuple[str, str], Rule | None]:
    """`(method, path) -> rule` of every route of `app`: None when a route declares no
    rule, or several different ones (both are mistakes the route x role test catches)."""
    declared: set[str] = getattr(app.state, "public_paths", set())
    rules: dict[tuple[str, str], Rule | None] = {}
    # included routers are resolved lazily by FastAPI: walk what it will route to
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        methods = sorted(route.methods or {"GET"})
        dependant = getattr(route, "dependant", None)
        if isinstance(route.original_route, APIRoute) and dependant is not None:
            found = set(_rules_of(dependant))
            rule = found.pop() if len(found) == 1 else None
        else:
            rule = Rule("public") if path in declared else None
        for method in methods:
            if method != "HEAD":
                rules[(method, path)] = rule
    return rules


__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Admin",
    "Agent",
    "Developer",
    "Principal",
    "Reviewer",
    "Rule",
    "Viewer",
    "authenticate",
    "check_csrf",
    "csrf_token",
    "declare_public",
    "end_session",
    "public",
    "require",
    "route_rules",
    "signed",
    "start_session",
]
