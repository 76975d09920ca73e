"""A job's log: `GET /api/v1/runs/{id}/jobs/{job}/logs` (byte ranges) and `.../follow`
(server-sent events). Viewers read.

The log is the job's steps' files as one append-only byte stream (`app.reads.JobLog`),
so a byte offset means the same thing while the job runs: a client can fetch
``Range: bytes=N-`` for what is new, and an event's `id` is the offset after it, which
a reconnecting `EventSource` sends back as `Last-Event-ID` to go on where it stopped.

Follow's events: ``log`` (new complete lines; `data` holds one line per data field),
then one ``end`` (`{"status": "completed", "conclusion": ...}`) when the job has ended
and everything was sent. A comment line every `KEEPALIVE_S` keeps idle proxies open.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from stageline.app import reads
from stageline.errors import RunError
from stageline.server.api.runs import RunId, known
from stageline.server.auth import Viewer
from stageline.server.problems import NotFound, problem
from stageline.server.snapshots import RunSnapshots
from stageline.server.state import Server, Snapshots

router = APIRouter(tags=["logs"])

#: How often a follower looks for more of the log (seconds), and how old the record a
#: quiet follower reads may be (`RunSnapshots`: one read a run for all its followers).
POLL_S = 0.2
#: The most a follower reads of the log at once (bytes).
READ_MAX = 256 * 1024
#: How long a follower may stay silent before a keep-alive comment (seconds).
KEEPALIVE_S = 15.0
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_Job = Annotated[str, Path(max_length=300, description="The job's key, id or name.")]


@router.get(
    "/runs/{run_id}/jobs/{job}/logs",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        206: {"description": "The requested byte range", "content": {"text/plain": {}}},
        416: {"description": "The range starts past the end of the log"},
    },
)
def job_log(
    run_id: RunId,
    job: _Job,
    principal: Viewer,
    server: Server,
    range: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The job's log as text; with `Range: bytes=START-END` (or `START-`, `-LAST`) only
    those bytes (206). The log grows while the job runs; `X-Log-Complete` says whether
    it still may."""
    log = _log(server, run_id, job)
    size = log.size
    headers = {"Accept-Ranges": "bytes", "X-Log-Complete": "true" if log.complete else "false"}
    wanted = _range(range, size) if range else None
    if wanted is None:
        return Response(log.read(0, size), media_type="text/plain; charset=utf-8", headers=headers)
    start, end = wanted
    if start >= size:
        return problem(
            416,
            f"the log has {size} bytes; the range starts at {start}",
            headers={**headers, "Content-Range": f"bytes */{size}"},
        )
    body = log.read(start, end + 1)
    headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{size}"
    return Response(body, 206, media_type="text/plain; charset=utf-8", headers=headers)


@router.get(
    "/runs/{run_id}/jobs/{job}/logs/follow",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def follow_job_log(
    request: Request,
    run_id: RunId,
    job: _Job,
    principal: Viewer,
    snapshots: Snapshots,
    offset: Annotated[int, Query(ge=0, le=2**53, description="Start at this byte.")] = 0,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> StreamingResponse:
    """The job's log as server-sent events while it is written, ending with `end` once
    the job has ended (see the module doc)."""
    try:  # 404 now, before the stream starts; a snapshot that lacks the job may be old
        log = await _job_log(snapshots, run_id, job)
    except RunError:
        log = await _followed(snapshots, run_id, job)
    if last_event_id and last_event_id.isdigit():
        offset = int(last_event_id)
    return StreamingResponse(
        _events(request, snapshots, run_id, job, offset, log),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request,
    snapshots: RunSnapshots,
    run_id: int,
    job: str,
    position: int,
    log: reads.JobLog,
) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        # on the loop, not the thread pool: a bounded read of local files costs less than
        # the hand-over to a thread, 5 times a second for every follower
        data = log.read(position, position + READ_MAX)
        # whole lines only while the job runs (a line, or a character, may be half written)
        chunk = data if log.complete else data[: data.rfind(b"\n") + 1]
        if chunk:
            position += len(chunk)
            quiet_since = time.monotonic()
            yield _event("log", chunk.decode("utf-8", "replace").removesuffix("\n"), position)
            if len(data) == READ_MAX:  # more is there already
                continue
        elif log.complete:
            ended = {"status": "completed", "conclusion": log.conclusion}
            yield _event("end", json.dumps(ended), position)
            return
        else:
            # the running step's file is quiet: the step may have ended, the next begun,
            # or the job ended; only the record tells (while a step writes, the files do)
            log = await _job_log(snapshots, run_id, job)
            if log.complete:
                continue
        if time.monotonic() - quiet_since >= KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


async def _job_log(snapshots: RunSnapshots, run_id: int, job: str) -> reads.JobLog:
    """The job's log as the run's shared snapshot, at most `POLL_S` old, has it."""
    return reads.job_log_of(await snapshots.detail(run_id), job)


async def _followed(snapshots: RunSnapshots, run_id: int, job: str) -> reads.JobLog:
    """The job's log as the record has it now; 404 without the run or the job."""
    try:
        detail = await snapshots.detail(run_id, max_age=0)
    except RunError as err:
        raise NotFound(f"no run {run_id}", hint="see /api/v1/runs") from err
    try:
        return reads.job_log_of(detail, job)
    except RunError as err:
        raise NotFound(err.message, hint=err.hint) from err


def _event(name: str, text: str, position: int) -> str:
    data = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
    return f"event: {name}\nid: {position}\n{data}\n"


def _log(server: Server, run_id: int, job: str) -> reads.JobLog:
    known(server, run_id)
    try:
        return reads.job_log_in(server.store, run_id, job)
    except RunError as err:
        raise NotFound(err.message, hint=err.hint) from err


def _range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range `header` asks for, as (first, last) clipped to `size`; None to
    send the whole log (no valid single range: RFC 9110 lets a server ignore it)."""
    matched = _RANGE.fullmatch(header.strip())
    if matched is None or matched.group(1) == matched.group(2) == "":
        return None
    first, last = matched.group(1), matched.group(2)
    if first == "":  # the last N bytes (none: unsatisfiable)
        count = int(last)
        return (max(size - count, 0), size - 1) if count else (size, size)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    return start, max(end, start)


__all__ = ["router"]
