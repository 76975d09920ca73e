"""Live pages over server-sent events: re-render fragments, send the ones that changed.

A page that updates (the runs list, a run, a job's log) connects with htmx's SSE
extension; its stream renders the page's fragments every `INTERVAL_S`, in the thread
pool (the store's calls block), and sends each fragment whose HTML changed as an event
named after it. That keeps one rendering path for the first load and every update, and
a client that reconnects simply gets the current state. When the thing watched is
finished the stream sends `done` (the page's `sse-close`) and ends; a stream also ends
after `LIFETIME_S`, and the browser reconnects, so none is held open forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

INTERVAL_S = 0.5
LIFETIME_S = 300.0

#: A renderer: the fragments by event name, and whether the watched thing is finished.
Render = Callable[[], tuple[dict[str, str], bool]]


def event(name: str, html: str) -> str:
    """One SSE message; every line of `html` gets its own `data:` field."""
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n\n"


async def _updates(request: Request, render: Render, interval: float) -> AsyncIterator[str]:
    sent: dict[str, str] = {}
    deadline = time.monotonic() + LIFETIME_S
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        parts, finished = await run_in_threadpool(render)
        for name, html in parts.items():
            if sent.get(name) != html:
                sent[name] = html
                yield event(name, html)
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


__all__ = ["INTERVAL_S", "LIFETIME_S", "Render", "event", "stream"]
