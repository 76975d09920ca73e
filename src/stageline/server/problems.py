"""Every error the server answers is RFC 9457 `application/problem+json`.

`install(app)` registers the handlers: HTTP errors (`HTTPException`, including the
401/403 of `server.auth`), request validation (422, with each error's location),
`StagelineError` (the one-line message users see everywhere: 404 for `NotFound`,
409 for a `StoreError` conflict, else 400), and anything unexpected (500, logged,
no traceback in the answer). `BodyLimit` answers 413 to a body over its limit
without reading it all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stageline.errors import RunError, StagelineError, StoreError, WorkflowError
from stageline.worker.protocol import AGENT

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: The default request body limit (bytes).
DEFAULT_BODY_LIMIT = 10 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class NotFound(RunError):
    """What was asked for does not exist (answered 404)."""


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `title` defaults to the status's phrase."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(err: StagelineError) -> int:
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, StoreError):
        return 409
    return 400


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}) or None)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"]) if first["loc"] else "request"
    return problem(422, f"{where}: {first['msg']}", errors=errors)


async def _stageline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StagelineError)
    extra: dict[str, Any] = {"hint": exc.hint} if exc.hint else {}
    if isinstance(exc, WorkflowError):  # every positioned error of the file
        extra["errors"] = [d.render() for d in exc.diagnostics]
    detail = f"{exc.position}: {exc.message}" if exc.position else exc.message
    return problem(status_of(exc), detail, **extra)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an unexpected error occurred; it was logged on the server")


#: Paths whose uploads are streamed to disk, not read into memory: a worker's artifacts
#: and cache entries (ADR 0012), which the body limit does not bound.
STREAMED = (AGENT + "/runs/", AGENT + "/cache/")


def install(app: FastAPI, body_limit: int = DEFAULT_BODY_LIMIT) -> None:
    """Answer every error of `app` as problem+json, and limit request bodies."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StagelineError, _stageline_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, limit=body_limit, streamed=STREAMED)


class _TooLarge(HTTPException):
    """Raised from `receive` (an HTTPException, so FastAPI's body parsing re-raises it
    as it is and the handler above answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes. A declared Content-Length
    over it is refused before any byte is read; a chunked body is counted as it
    arrives and refused once it passes the limit. Paths under a `streamed` prefix are
    not limited (their routes write the body to disk as it arrives)."""

    def __init__(
        self, app: ASGIApp, limit: int = DEFAULT_BODY_LIMIT, streamed: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.streamed):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"the request body is larger than the limit of {self.limit} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


__all__ = [
    "DEFAULT_BODY_LIMIT",
    "PROBLEM_JSON",
    "STREAMED",
    "BodyLimit",
    "NotFound",
    "install",
    "problem",
    "status_of",
]
