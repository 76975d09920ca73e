"""Record, then tell: the one step every state change of a run goes through.

`Recording` owns the run's `Recorder` (`store.runs.recorder`) and its observer.
Writes are queued and flushed once per turn of the event loop; a flush that fails
(a full disk) keeps the writes queued and calls `on_unwritable`, which cancels the
run: going on unrecorded would break the rule that the store is the source of truth. A fresh
run and a resumed one use this same path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from stageline.engine import events as ev
from stageline.errors import StagelineError
from stageline.store import db

log = logging.getLogger(__name__)


class Recording:
    """The write-through record of run `run_id` plus its observer."""

    __slots__ = ("_on_unwritable", "observer", "recorder", "run_id")

    def __init__(
        self,
        store: db.Store,
        run_id: int,
        observer: ev.Observer | None,
        on_unwritable: Callable[[str], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.run_id = run_id
        self.observer = observer
        self._on_unwritable = on_unwritable
        self.recorder = store.runs.recorder(run_id, lambda _f: loop.call_soon(self.flush))

    def flush(self) -> None:
        """Write what this turn of the loop recorded (see the module doc on failure)."""
        try:
            self.recorder.flush()
        except StagelineError as err:
            log.error("%s", err)
            self._on_unwritable(f"the record cannot be written: {err.message}")

    def emit(self, event: ev.EngineEvent) -> None:
        if self.observer is not None:
            self.observer.handle(event)
