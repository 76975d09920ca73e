"""`POST /hooks/{github,gitea,gitlab,git}`: deliveries that trigger runs.

Outside `/api/v1` (forges are configured with these URLs once) and `signed`: a
delivery proves itself with the repository's webhook secret, not a user's token. The
order of checks answers each bad delivery with its own status: unknown repository 404,
bad or missing signature 401, unreadable body 400 (when `?repo=` names the repository
the signature is checked before the body is parsed; without it the payload's
repository URL names it, so the body is read first). A delivery seen before answers
200 "duplicate delivery" and starts nothing. Every refusal and every trigger is in the
audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stageline.app.accounts import audit
from stageline.app.triggers import trigger
from stageline.server import auth, webhooks
from stageline.server.api.triggers import trigger_document
from stageline.server.problems import problem
from stageline.server.state import Host, Server

if TYPE_CHECKING:
    from stageline.app.host import RunHost
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow

router = APIRouter(tags=["hooks"])

_ABOUT = {
    "github": "GitHub push, pull_request, release and workflow_dispatch (X-Hub-Signature-256).",
    "gitea": "Gitea or Forgejo push (X-Gitea-Signature / X-Forgejo-Signature).",
    "gitlab": "GitLab push and tag push (X-Gitlab-Token).",
    "git": "The post-receive hook of `stageline hook install` (X-Stageline-Signature-256).",
}


class _Unknown(Exception):
    """No registered repository is the one a delivery names (answered 404)."""


def _route(source: str) -> Callable[..., Awaitable[JSONResponse]]:
    """The route of one source (one per source, so each shows in the OpenAPI document)."""

    async def receive(
        request: Request,
        server: Server,
        host: Host,
        repo: Annotated[str | None, Query(description="The registered repository's name.")] = None,
    ) -> JSONResponse:
        body = await request.body()
        headers = webhooks.headers_of(request.headers)
        return await run_in_threadpool(_receive, server, host, source, headers, body, repo)

    receive.__name__ = f"hook_{source}"
    receive.__doc__ = _ABOUT[source]
    return receive


for _source in webhooks.SOURCES:
    router.add_api_route(
        f"/hooks/{_source}",
        _route(_source),
        methods=["POST"],
        dependencies=[Depends(auth.signed)],
        response_model=None,
        status_code=202,
    )


def _receive(
    server: ServerData,
    host: RunHost,
    source: str,
    headers: dict[str, str],
    body: bytes,
    name: str | None,
) -> JSONResponse:
    found: RepoRow | None = None
    try:
        if name is not None:
            found = _named(server, name)
            webhooks.verify(source, headers, body, found.webhook_secret)
            payload = webhooks.read_json(body)
        else:
            payload = webhooks.read_json(body)
            found = _by_url(server, source, payload)
            webhooks.verify(source, headers, body, found.webhook_secret)
        event = webhooks.parse(source, headers, body, payload)
    except webhooks.Rejected as err:
        if found is not None:
            detail = {"source": source, "status": err.status, "detail": err.detail}
            audit(server, f"hook:{source}", "hook.reject", found.name, detail)
        return problem(err.status, err.detail)
    except _Unknown as err:
        return problem(404, str(err))
    if event is None:
        return JSONResponse({"status": "pong"}, status_code=200)
    recorded = trigger(server, host, found, event)
    if recorded is None:
        return JSONResponse({"status": "duplicate delivery"}, status_code=200)
    return JSONResponse(trigger_document(recorded, found.name), status_code=202)


def _named(server: ServerData, name: str) -> RepoRow:
    found = server.store.server.get_repo(name)
    if found is None:
        raise _Unknown(f"no repository named {name!r} is registered")
    return found


def _by_url(server: ServerData, source: str, payload: dict[str, Any]) -> RepoRow:
    urls = webhooks.repository_urls(payload)
    if source == "git" or not urls:
        raise webhooks.Rejected(400, f"name the repository: POST /hooks/{source}?repo=NAME")
    for url in urls:
        found = server.store.server.repo_for_url(url)
        if found is not None:
            return found
    raise _Unknown(f"no registered repository has the URL {urls[0]}")


__all__ = ["router"]
