"""Record, then tell: the one step every state change of a run goes through.

`Recording` owns the run's `Recorder` (`store.runs.recorder`) and its observer.
Writes are queued and flushed once per turn of the event loop; a flush that fails
(a full disk) keeps the writes queued and calls `on_unwritable`, which cancels the
run: going on unrecorded would break the rule that the store is the source of truth. A fresh
run and a resumed one use this same path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stageline.engine import events as ev
from stageline.errors import StagelineError
from stageline.runner.masking import Masker
from stageline.store import db
from stageline.store.ports import Recorder
from stageline.store.records import NewJob

log = logging.getLogger(__name__)


class Recording:
    """The write-through record of run `run_id` plus its observer."""

    __slots__ = ("_on_unwritable", "masker", "observer", "recorder", "run_id")

    def __init__(
        self,
        store: db.Store,
        run_id: int,
        observer: ev.Observer | None,
        on_unwritable: Callable[[str], None],
        secrets: Iterable[str] = (),
    ) -> None:
        loop = asyncio.get_running_loop()
        self.run_id = run_id
        self.observer = observer
        self._on_unwritable = on_unwritable
        self.masker = Masker(value for value in secrets if value)
        inner = store.runs.recorder(run_id, lambda _f: loop.call_soon(self.flush))
        self.recorder: Recorder = MaskedRecorder(inner, self.masker) if self.masker else inner

    def flush(self) -> None:
        """Write what this turn of the loop recorded (see the module doc on failure)."""
        try:
            self.recorder.flush()
        except StagelineError as err:
            log.error("%s", err)
            self._on_unwritable(f"the record cannot be written: {err.message}")

    def emit(self, event: ev.EngineEvent) -> None:
        if self.observer is not None:
            if self.masker and not isinstance(event, ev.LogLine):  # lines come masked
                event = masked_event(event, self.masker)
            self.observer.handle(event)


def masked(value: Any, masker: Masker) -> Any:
    """`value` with every string in it (keys of mappings too) masked."""
    if isinstance(value, str):
        return masker.mask(value)
    if isinstance(value, Mapping):
        return {masked(k, masker): masked(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(masked(v, masker) for v in value)
    return value


def masked_event(event: ev.EngineEvent, masker: Masker) -> ev.EngineEvent:
    changes = {}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        new = masked(value, masker)
        if new != value:
            changes[item.name] = new
    return dataclasses.replace(event, **changes) if changes else event


class MaskedRecorder:
    """A `Recorder` that masks every value before queueing it."""

    __slots__ = ("_inner", "_masker", "run_id")

    def __init__(self, inner: Recorder, masker: Masker) -> None:
        self._inner = inner
        self._masker = masker
        self.run_id = inner.run_id

    def _m(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: masked(v, self._masker) for k, v in values.items()}

    def run(self, **values: Any) -> None:
        self._inner.run(**self._m(values))

    def job(self, key: str, **values: Any) -> None:
        self._inner.job(key, **self._m(values))

    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None:
        self._inner.add_jobs(jobs, replacing=replacing)

    def step_started(
        self, job_key: str, number: int, name: str, at: float, log_path: str | None = None
    ) -> None:
        self._inner.step_started(job_key, number, self._masker.mask(name), at, log_path)

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None:
        self._inner.step_finished(job_key, number, started, **self._m(values))

    def clear_steps(self, job_key: str) -> None:
        self._inner.clear_steps(job_key)

    def annotation(self, job_key: str, **values: Any) -> None:
        self._inner.annotation(job_key, **self._m(values))

    def artifact(self, job_key: str, **values: Any) -> None:
        self._inner.artifact(job_key, **values)

    def event(
        self, kind: str, job_key: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self._inner.event(kind, job_key, masked(data, self._masker))

    @property
    def pending(self) -> int:
        return self._inner.pending

    def flush(self) -> None:
        self._inner.flush()
