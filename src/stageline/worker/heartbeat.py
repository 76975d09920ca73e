"""What a worker process runs now, and the one thread that tells the server (ADR 0012).

Jobs run in threads of one process (Celery's `threads` pool), each on its own event
loop, so a single heartbeat thread knows every current attempt: one call every
`HEARTBEAT_S` extends all their leases, and its reply's `cancel` and `stale` set the
jobs' cancel tokens directly, with no message between processes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from stageline.worker.client import TIMEOUT_S
from stageline.worker.protocol import HEARTBEAT, HEARTBEAT_S, BeatReply, WorkerBeat

log = logging.getLogger("stageline.worker")


class Cancel:
    """A job's `CancelToken`, set from any thread (the heartbeat, a stale reply)."""

    __slots__ = ("_event", "_loop", "reason")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self.reason: str | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> object:
        return await self._event.wait()

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)


@dataclass(frozen=True, slots=True)
class Running:
    """An attempt this process runs: its token, and how to stop it when it goes stale
    (stop the job and send nothing more)."""

    cancel: Cancel
    stop: Callable[[str], None]


class Attempts:
    """The attempts this process runs now, shared by the job threads and the heartbeat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}

    def add(self, attempt: str, running: Running) -> None:
        with self._lock:
            self._running[attempt] = running

    def remove(self, attempt: str) -> None:
        with self._lock:
            self._running.pop(attempt, None)

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    def apply(self, reply: BeatReply) -> None:
        """Set the tokens the reply names: cancelled jobs stop, stale ones stop silently."""
        with self._lock:
            running = dict(self._running)
        for attempt, reason in reply.cancel.items():
            if attempt in running:
                log.info("attempt %s: cancelled (%s)", attempt, reason)
                running[attempt].cancel.set(reason or "cancelled")
        for attempt in reply.stale:
            if attempt in running:
                log.warning("attempt %s: stale, stopping it", attempt)
                running[attempt].stop("the server says the attempt is no longer this worker's")


class Heartbeat:
    """The thread that calls `HEARTBEAT` every `interval` seconds with `beat` (its
    `attempts` filled in from `attempts`). A failed call is logged and tried again at
    the next beat: the lease (`LEASE_S`) outlasts many beats."""

    def __init__(
        self,
        http: httpx.Client,
        name: str,
        beat: WorkerBeat,
        attempts: Attempts,
        interval: float = HEARTBEAT_S,
    ) -> None:
        self._http = http
        self._path = HEARTBEAT.format(name=name)
        self._beat = beat
        self._attempts = attempts
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stageline-heartbeat", daemon=True)
        self._failing = False

    def beat(self) -> BeatReply:
        """One heartbeat; raises `httpx.HTTPError` when the server cannot be reached or
        refuses it."""
        self._beat.attempts = self._attempts.ids()
        response = self._http.post(self._path, json=asdict(self._beat), timeout=TIMEOUT_S)
        response.raise_for_status()
        body = response.json() if response.content else {}
        return BeatReply(
            cancel={str(k): str(v) for k, v in (body.get("cancel") or {}).items()},
            stale=[str(a) for a in body.get("stale") or []],
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                reply = self.beat()
            except httpx.HTTPError as err:
                if not self._failing:
                    log.warning("heartbeat failed: %s (retrying every %.0f s)", err, self._interval)
                self._failing = True
                continue
            if self._failing:
                log.info("heartbeat: the server answers again")
            self._failing = False
            self._attempts.apply(reply)


__all__ = ["Attempts", "Cancel", "Heartbeat", "Running"]
