"""Live pages over server-sent events: re-render fragments, send the ones that changed.

A page that updates (a run, a job's log) connects with htmx's SSE extension; its stream
renders the page's fragments every `INTERVAL_S`, in the thread pool (the store's calls
block), and sends each fragment whose HTML changed as an event named after it. That
keeps one rendering path for the first load and every update. When the thing watched
is finished the stream sends `done` (the page's `sse-close`) and ends.

A stream also ends after `LIFETIME_S` and the browser reconnects: uvicorn's graceful
shutdown waits for every open response, so a stream held open while a run waits days
for its approval would hold SIGTERM as long. Each event's id names the digests of the
fragments the browser holds; a reconnecting browser sends it back (`Last-Event-ID`) and
gets only what changed meanwhile, so a comment being typed in a form is not wiped.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

INTERVAL_S = 0.5
LIFETIME_S = 10.0

#: A renderer: the fragments by event name, and whether the watched thing is finished.
Render = Callable[[], tuple[dict[str, str], bool]]


def event(name: str, html: str, id: str | None = None) -> str:
    """One SSE message; every line of `html` gets its own `data:` field."""
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {name}\n{data}\n\n"


def digest(html: str) -> str:
    return hashlib.blake2s(html.encode(), digest_size=8).hexdigest()


def held(last_event_id: str | None) -> dict[str, str]:
    """The fragment digests a reconnecting browser holds, from its `Last-Event-ID`."""
    pairs = (item.partition("=") for item in (last_event_id or "").split(";"))
    return {name: value for name, sep, value in pairs if sep and name and value}


async def _updates(request: Request, render: Render, interval: float) -> AsyncIterator[str]:
    sent = held(request.headers.get("last-event-id"))
    deadline = time.monotonic() + LIFETIME_S
    yield "retry: 1000\n\n"
    while not await request.is_disconnected():
        parts, finished = await run_in_threadpool(render)
        for name, html in parts.items():
            if sent.get(name) != (mark := digest(html)):
                sent[name] = mark
                yield event(name, html, ";".join(f"{k}={v}" for k, v in sorted(sent.items())))
        if finished:
            yield event("done", "")
            return
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(interval)


def stream(request: Request, render: Render, interval: float = INTERVAL_S) -> StreamingResponse:
    """The SSE response for a live page (see the module doc)."""
    return StreamingResponse(
        _updates(request, render, interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


__all__ = ["INTERVAL_S", "LIFETIME_S", "Render", "digest", "event", "held", "stream"]
