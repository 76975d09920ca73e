"""`/git/{repo}.git/...`: git's smart HTTP, read-only, over the server's bare mirrors
(ADR 0012), so that workers fetch a run's commit with the worker's token.

`git http-backend` runs as a CGI per request: it speaks protocols v0 to v2, inflates
gzipped request bodies and answers the advertisement, while this module streams the
request body into it and its output back (a pack is never held in memory). Only
upload-pack is served, with `uploadpack.allowAnySHA1InWant` (a run's commit need not be
a branch head any more); receive-pack (a push) is refused 403 before git runs, and the
dumb protocol's file reads are off. Rule `agent`: a worker's or an admin's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from stageline.server.auth import Agent
from stageline.server.problems import NotFound
from stageline.server.state import Server
from stageline.worker.protocol import GIT

log = logging.getLogger(__name__)

router = APIRouter(tags=["workers"])

UPLOAD_PACK = "git-upload-pack"
_CHUNK = 64 * 1024
#: The most of a CGI header block read before the body starts.
_HEADER_LIMIT = 64 * 1024
#: Configuration every http-backend runs with (as `GIT_CONFIG_*`, above any file's).
_CONFIG = {
    "uploadpack.allowAnySHA1InWant": "true",
    "http.uploadpack": "true",
    "http.receivepack": "false",
    "http.getanyfile": "false",
}


def _refuse_push() -> HTTPException:
    return HTTPException(403, "the server's repositories are read-only: git push is refused")


async def _mirror(server: Server, repo: str) -> Path:
    # `server.store` is per thread: look it up in the pool's thread, not the loop's
    row = await run_in_threadpool(lambda: server.store.server.get_repo(repo))
    if row is None:
        raise NotFound(f"no repository named {repo!r} is registered")
    return Path(row.mirror_path)


@router.get(GIT + "/info/refs", response_class=StreamingResponse)
async def advertise(
    repo: str,
    request: Request,
    principal: Agent,
    server: Server,
    service: Annotated[str, Query(description="git-upload-pack (fetch) only.")] = "",
) -> StreamingResponse:
    """The refs of the repository's mirror (the start of a `git fetch`)."""
    if service == "git-receive-pack":
        raise _refuse_push()
    if service != UPLOAD_PACK:
        raise HTTPException(400, "only git's smart protocol is served: ?service=git-upload-pack")
    mirror = await _mirror(server, repo)
    return await _backend(request, mirror, "info/refs", principal.name)


@router.post(GIT + "/" + UPLOAD_PACK, response_class=StreamingResponse)
async def upload_pack(
    repo: str, request: Request, principal: Agent, server: Server
) -> StreamingResponse:
    """The pack of what the client wants and has not."""
    mirror = await _mirror(server, repo)
    return await _backend(request, mirror, UPLOAD_PACK, principal.name)


def _cgi_env(request: Request, mirror: Path, path: str, user: str) -> dict[str, str]:
    headers = request.headers
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GIT_PROJECT_ROOT": str(mirror.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{mirror.name}/{path}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "REMOTE_USER": user,
        "REMOTE_ADDR": request.client.host if request.client else "",
        "CONTENT_TYPE": headers.get("content-type", ""),
        "GIT_CONFIG_COUNT": str(len(_CONFIG)),
    }
    for index, (key, value) in enumerate(_CONFIG.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    length = headers.get("content-length")
    if length is not None and "chunked" not in headers.get("transfer-encoding", ""):
        env["CONTENT_LENGTH"] = length  # else http-backend reads to the end of its stdin
    for name in ("content-encoding", "git-protocol"):
        if name in headers:
            env["HTTP_" + name.upper().replace("-", "_")] = headers[name]
    return env


async def _backend(request: Request, mirror: Path, path: str, user: str) -> StreamingResponse:
    """Run `git http-backend` for this request: its status and headers, its body streamed."""
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_cgi_env(request, mirror, path, user),
        start_new_session=True,  # its own process group: upload-pack and pack-objects too
    )
    assert process.stdin and process.stdout and process.stderr
    feeding = asyncio.create_task(_feed(request, process.stdin))
    errors = asyncio.create_task(_tail(process.stderr))
    try:
        status, headers, rest = await _headers(process.stdout)
    except BaseException:
        await _end(process, feeding, errors)
        raise
    if status >= 400:
        await _end(process, feeding, errors)
        raise HTTPException(status, rest.decode(errors="replace").strip() or None)
    # the whole body is read before answering: the response listens for the client's
    # disconnect on the same channel (git reads a request whole before it answers)
    await feeding

    async def body() -> AsyncIterator[bytes]:
        assert process.stdout
        try:
            if rest:
                yield rest
            while chunk := await process.stdout.read(_CHUNK):
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):  # a client gone: reap git all the same
                await _end(process, feeding, errors)

    return StreamingResponse(body(), status_code=status, headers=headers)


async def _feed(request: Request, stdin: asyncio.StreamWriter) -> None:
    """The request body into git, as it arrives (git may stop reading: that is its answer)."""
    try:
        async for chunk in request.stream():
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
    except (ClientDisconnect, ConnectionError):
        pass
    finally:
        stdin.close()
        with contextlib.suppress(ConnectionError):
            await stdin.wait_closed()


async def _tail(stream: asyncio.StreamReader, keep: int = 4096) -> bytes:
    """The last `keep` bytes of `stream` (git's stderr, read to its end so git never
    blocks on it)."""
    kept = b""
    while chunk := await stream.read(_CHUNK):
        kept = (kept + chunk)[-keep:]
    return kept


async def _headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """The CGI header block: (status, headers, the body's first bytes)."""
    data = b""
    while True:
        for end in (b"\r\n\r\n", b"\n\n"):
            at = data.find(end)
            if at >= 0:
                break
        if at >= 0:
            break
        chunk = await stdout.read(_CHUNK)
        if not chunk or len(data) > _HEADER_LIMIT:
            raise HTTPException(502, "git http-backend gave no answer")
        data += chunk
    head, rest = data[:at].decode("latin-1"), data[at + len(end) :]
    status, headers = 200, {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.split()[0])
        elif name.strip():
            headers[name.strip()] = value.strip()
    return status, headers, rest


async def _end(
    process: asyncio.subprocess.Process, feeding: asyncio.Task[None], errors: asyncio.Task[bytes]
) -> None:
    """Reap git; killed with its children when the client went away before it finished
    (they would block on a full pipe for ever)."""
    if process.returncode is None and process.stdout and not process.stdout.at_eof():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    feeding.cancel()
    code = await process.wait()
    with contextlib.suppress(asyncio.CancelledError):
        await feeding
    stderr = await errors
    if code not in (0, -9):
        log.info("git http-backend exited %s: %s", code, stderr.decode(errors="replace")[-500:])


__all__ = ["UPLOAD_PACK", "router"]
