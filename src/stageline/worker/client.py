"""The worker's side of the agent API (ADR 0012): one attempt's calls, and its events in
batches that survive a short server outage.

Every call is retried with backoff while the server is unreachable or answers 5xx; a
409 means the attempt is no longer this worker's (stale), and the job is stopped. A
job's events wait in memory meanwhile, up to `MAX_BUFFER_BYTES` of log text per attempt:
past that, log lines are dropped (and a line says how many) while step events, results
and annotations are always kept, so a long outage costs log lines, never the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx

from stageline.errors import StagelineError
from stageline.worker.protocol import (
    ATTEMPT_HEADER,
    BATCH_LINES,
    BATCH_S,
    CLAIM,
    EVENTS,
    FINISH,
    WORKER_HEADER,
    BatchReply,
    Claim,
    ClaimReply,
    EventBatch,
    Finish,
)

log = logging.getLogger("stageline.worker")

#: Log text (`log` and `write` events) one attempt keeps while the server is away.
MAX_BUFFER_BYTES = 32 << 20
#: At most this many events go in one batch (a batch after an outage is split).
MAX_BATCH_EVENTS = 2000
#: Backoff between retries: from the first, doubling up to the last.
BACKOFF_S = (0.2, 5.0)
#: How long a claim is retried while the server is unreachable before the task goes
#: back to the queue.
CLAIM_RETRY_S = 60.0
#: How long a finished job's last events and result are retried before they are given
#: up (a server restart takes less; the server's reaper covers a longer one).
DELIVERY_S = 600.0
TIMEOUT_S = 30.0


class AgentError(StagelineError):
    """The server could not be reached, or refused the worker."""


class Stale(Exception):
    """The server answered 409: the attempt is not this worker's any more."""


class Refused(Exception):
    """The server refused a call for good (4xx other than 409): retrying cannot help."""


def client(
    server: str, token: str, attempt: str | None = None, worker: str | None = None
) -> httpx.AsyncClient:
    """An HTTP client for the server's API with the worker's token (and the attempt's and
    the worker's headers, which the file routes require)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if attempt is not None:
        headers[ATTEMPT_HEADER] = attempt
    if worker is not None:
        headers[WORKER_HEADER] = worker
    return httpx.AsyncClient(base_url=server.rstrip("/"), headers=headers, timeout=TIMEOUT_S)


async def post(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], *, within: float | None = None
) -> dict[str, Any]:
    """POST `body` until the server answers (retrying an unreachable server and 5xx with
    backoff, for `within` seconds or forever); the reply's JSON. Raises `Stale` on 409,
    `Refused` on another 4xx, `TimeoutError` when `within` passed."""
    deadline = None if within is None else time.monotonic() + within
    delay = BACKOFF_S[0]
    while True:
        try:
            response = await http.post(path, json=body)
        except httpx.TransportError as err:
            problem = f"cannot reach the server: {err or type(err).__name__}"
        else:
            if response.status_code == 409:
                raise Stale(detail(response))
            if response.status_code < 500:
                if response.is_error:
                    raise Refused(f"HTTP {response.status_code}: {detail(response)}")
                try:
                    body = response.json() if response.content else {}
                except ValueError:
                    raise Refused(f"not a JSON reply: {response.text[:200]!r}") from None
                return body if isinstance(body, dict) else {}
            problem = f"the server answered HTTP {response.status_code}"
        if deadline is not None and time.monotonic() + delay > deadline:
            raise TimeoutError(problem)
        log.warning("POST %s: %s; retrying in %.1f s", path, problem, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_S[1])


def detail(response: httpx.Response) -> str:
    """The server's explanation of an error reply (its problem detail), in one line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)


async def claim(http: httpx.AsyncClient, attempt: str, worker: str) -> ClaimReply:
    """Claim the attempt; raises `Stale` when it is not queued (drop the task)."""
    reply = await post(
        http, CLAIM.format(attempt=attempt), asdict(Claim(worker)), within=CLAIM_RETRY_S
    )
    return ClaimReply(request=reply["request"], repo=str(reply["repo"]))


async def finish(
    http: httpx.AsyncClient, attempt: str, worker: str, seq: int, result: dict[str, Any]
) -> None:
    await post(
        http, FINISH.format(attempt=attempt), asdict(Finish(worker, seq, result)), within=DELIVERY_S
    )


def _text_size(event: dict[str, Any]) -> int:
    return len(event.get("line", "")) + len(event.get("text", ""))


class EventStream:
    """One attempt's events, sent in `EventBatch`es from the job's event loop.

    `add` is called by the sink and the log files (never blocks); a background task sends
    a batch every `batch_s` seconds or as soon as `batch_lines` lines wait. A batch keeps
    its `seq` until the server acknowledges it, so a batch re-sent after a lost reply is
    applied once. `on_stop(reason)` is called once when the server says the attempt is
    stale or refuses it: the job must stop, and nothing more is sent.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        attempt: str,
        worker: str,
        on_stop: Callable[[str], None],
        *,
        on_cancel: Callable[[str], None] | None = None,
        batch_s: float = BATCH_S,
        batch_lines: int = BATCH_LINES,
        max_bytes: int = MAX_BUFFER_BYTES,
    ) -> None:
        self._http = http
        self._attempt = attempt
        self._worker = worker
        self._on_stop = on_stop
        self._on_cancel = on_cancel or on_stop
        self._batch_s = batch_s
        self._batch_lines = batch_lines
        self._max_bytes = max_bytes
        self._pending: list[dict[str, Any]] = []
        self._lines = 0
        self._bytes = 0  # log text held, pending or in flight
        self._dropped = 0
        self._dropped_index = 0
        self._seq = 0  # the last batch formed
        self._applied = 0  # the last batch the server acknowledged
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        #: Set (from any thread) when the attempt is not this worker's any more.
        self.stopped = False

    @property
    def applied(self) -> int:
        """The `seq` of the last batch the server acknowledged (0: none)."""
        return self._applied

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self, reason: str) -> None:
        """Send nothing more (the attempt is stale); from any thread."""
        if not self.stopped:
            self.stopped = True
            self._on_stop(reason)

    def add(self, event: dict[str, Any]) -> None:
        """Queue one event (`{"kind": ..., **fields}`), in order."""
        if self.stopped:
            return
        size = _text_size(event)
        if size and self._bytes + size > self._max_bytes:
            self._dropped += 1
            self._dropped_index = int(event.get("index", 0))
            return
        self._bytes += size
        self._pending.append(event)
        if event["kind"] == "log":
            self._lines += 1
            if self._lines >= self._batch_lines:
                self._wake.set()

    async def close(self, within: float = DELIVERY_S) -> int | None:
        """Send everything still waiting; the last acknowledged `seq`, or None when the
        attempt was stopped or the server stayed away for `within` seconds."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), within)
            except TimeoutError:
                self._task.cancel()
                log.error(
                    "attempt %s: the server stayed unreachable for %.0f s; "
                    "%d events were not delivered",
                    self._attempt,
                    within,
                    len(self._pending),
                )
                return None
        return None if self.stopped else self._applied

    async def _run(self) -> None:
        while not self.stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._batch_s)
            self._wake.clear()
            await self._drain()
            if self._closing and not (self._pending or self._dropped):
                return

    async def _drain(self) -> None:
        """Send batches until nothing waits (retrying while the server is away)."""
        while (self._pending or self._dropped) and not self.stopped:
            batch, size = self._form()
            if await self._send(batch):
                self._applied = batch.seq
                self._bytes -= size

    def _form(self) -> tuple[EventBatch, int]:
        """The next batch: the oldest events, consecutive writes of a step joined."""
        if self._dropped and self._bytes <= self._max_bytes // 2:
            note = (
                f"[stageline] {self._dropped} lines of this job's output were dropped "
                "while the server was unreachable"
            )
            self._pending.append({"kind": "log", "index": self._dropped_index, "line": note})
            self._pending.append(
                {"kind": "write", "index": self._dropped_index, "text": note + "\n"}
            )
            self._dropped = 0
        taken = self._pending[:MAX_BATCH_EVENTS]
        del self._pending[:MAX_BATCH_EVENTS]
        self._lines = sum(1 for e in self._pending if e["kind"] == "log")
        events: list[dict[str, Any]] = []
        for event in taken:
            last = events[-1] if events else None
            if (
                last is not None
                and event["kind"] == "write"
                and last["kind"] == "write"
                and last["index"] == event["index"]
            ):
                events[-1] = {**last, "text": last["text"] + event["text"]}
            else:
                events.append(event)
        self._seq += 1
        return EventBatch(self._worker, self._seq, events), sum(_text_size(e) for e in taken)

    async def _send(self, batch: EventBatch) -> bool:
        """Deliver `batch` (retrying for as long as it takes); False when stopped."""
        try:
            reply = await post(self._http, EVENTS.format(attempt=self._attempt), asdict(batch))
        except Stale as err:
            self.stop(f"the server refused the attempt's events as stale: {err}")
            return False
        except Refused as err:
            log.error("attempt %s: the server refused its events: %s", self._attempt, err)
            self.stop(f"the server refused the attempt's events: {err}")
            return False
        answer = BatchReply(applied=bool(reply.get("applied", True)), cancel=reply.get("cancel"))
        if answer.cancel:
            self._on_cancel(answer.cancel)
        return True


__all__ = [
    "CLAIM_RETRY_S",
    "DELIVERY_S",
    "MAX_BUFFER_BYTES",
    "AgentError",
    "EventStream",
    "Refused",
    "Stale",
    "claim",
    "client",
    "detail",
    "finish",
    "post",
]
