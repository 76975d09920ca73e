"""One read of a run's record, shared by everyone following that run.

A follower of a job's log (`api.logs`) reads the record whenever its log is quiet, to
learn whether a step or the job has ended. Read per follower, 50 followers of one run
read the whole run (every job and step) 250 times a second, the server's largest cost
under load when profiled. `RunSnapshots.detail` reads a run at most once per
`max_age` for all of them: callers in the meantime get the snapshot already taken,
or await the one read in flight. It lives on the event loop; the read itself runs
in the thread pool, with that thread's own store (ADR 0011).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from stageline.app import reads

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store import RunDetail

#: Snapshots no one asked for in this long are dropped (seconds).
KEEP_S = 30.0


class RunSnapshots:
    """Shared reads of runs (see the module doc). Use from the event loop only."""

    def __init__(self, server: ServerData, max_age: float) -> None:
        self._server = server
        self._max_age = max_age
        #: run id -> (when its read began, what it read)
        self._taken: dict[int, tuple[float, RunDetail]] = {}
        self._reading: dict[int, asyncio.Future[RunDetail]] = {}

    async def detail(self, run_id: int, *, max_age: float | None = None) -> RunDetail:
        """Run `run_id` as read at most `max_age` (default: the one given at creation)
        seconds ago; 0: by a new read, or the one in flight (RunError: no such run)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        taken = self._taken.get(run_id)
        oldest = self._max_age if max_age is None else max_age
        if taken is not None and now - taken[0] < oldest:
            return taken[1]
        pending = self._reading.get(run_id)
        if pending is None:
            self._forget_before(now - KEEP_S)
            pending = asyncio.ensure_future(run_in_threadpool(self._read, run_id))
            self._reading[run_id] = pending
            pending.add_done_callback(lambda done: self._settle(run_id, now, done))
        # a follower that leaves while it waits does not cancel the others' read
        return await asyncio.shield(pending)

    def _read(self, run_id: int) -> RunDetail:
        return reads.run_in(self._server.store, run_id)

    def _settle(self, run_id: int, began: float, done: asyncio.Future[RunDetail]) -> None:
        del self._reading[run_id]
        if not done.cancelled() and done.exception() is None:
            self._taken[run_id] = (began, done.result())

    def _forget_before(self, moment: float) -> None:
        for run_id in [r for r, (at, _) in self._taken.items() if at < moment]:
            del self._taken[run_id]


__all__ = ["KEEP_S", "RunSnapshots"]
