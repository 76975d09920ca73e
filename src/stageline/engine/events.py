"""What the engine tells observers while a run goes on.

The engine emits one small, immutable event per state change, *after* it has
been written to the store, in the order the changes happened. Observers (the
Rich terminal view, the line printer, notifications, a server's SSE stream)
receive them synchronously on the engine's event loop, so an observer must
return quickly and must not block; one that needs I/O queues the event and
does the work elsewhere. An observer that raises is logged and detached: a
broken view never fails a run.

Every event has a dotted `kind` (``run.started``, ``job.finished``, ...) for
pattern matching (``run.*``) by notifications, plus the `run_id` and a UTC
timestamp `at` (seconds since the epoch, `time.time()`). Events are plain data
and JSON-able through `to_dict()`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineEvent:
    """Base of every event: which run, when, and what kind."""

    kind: ClassVar[str] = "event"
    run_id: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """A job as observers see it before it runs (for laying out a view)."""

    key: str
    job_id: str
    name: str
    needs: tuple[str, ...] = ()
    matrix: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(EngineEvent):
    kind: ClassVar[str] = "run.started"
    number: int
    workflow: str
    workflow_path: str
    event: str
    ref: str
    sha: str
    actor: str
    repository: str
    jobs: tuple[JobInfo, ...] = ()
    log_dir: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunWaiting(EngineEvent):
    """The run holds because at least one job waits at a gate."""

    kind: ClassVar[str] = "run.waiting"
    waiting_for: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(EngineEvent):
    kind: ClassVar[str] = "run.finished"
    number: int
    workflow: str
    conclusion: str  # runs.states.Conclusion value
    reason: str | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQueued(EngineEvent):
    """A job was added to the run (deferred matrix legs arrive this way too)."""

    kind: ClassVar[str] = "job.queued"
    job: JobInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted(EngineEvent):
    kind: ClassVar[str] = "job.started"
    job_key: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobWaiting(EngineEvent):
    """A job is held (environment gate, concurrency group, bake window)."""

    kind: ClassVar[str] = "job.waiting"
    job_key: str
    name: str
    waiting_for: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFinished(EngineEvent):
    kind: ClassVar[str] = "job.finished"
    job_key: str
    name: str
    conclusion: str  # runs.states.Conclusion value
    reason: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    #: The last lines of the failed step's log, for a summary (empty on success).
    tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(EngineEvent):
    kind: ClassVar[str] = "step.started"
    job_key: str
    index: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished(EngineEvent):
    kind: ClassVar[str] = "step.finished"
    job_key: str
    index: int
    name: str
    outcome: str
    conclusion: str
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine(EngineEvent):
    """One masked line of a step's output."""

    kind: ClassVar[str] = "log.line"
    job_key: str
    step_index: int
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnotationAdded(EngineEvent):
    kind: ClassVar[str] = "annotation.added"
    job_key: str
    level: str
    message: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Custom(EngineEvent):
    """Anything else a job reports through `JobSink.event` (``approval.auto``,
    ``artifact.uploaded``, ...); `name` is its kind."""

    kind: ClassVar[str] = "custom"
    job_key: str | None
    name: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.name}


@runtime_checkable
class Observer(Protocol):
    """Receives every event of a run, in order, on the engine's loop."""

    def handle(self, event: EngineEvent) -> None: ...


class Broadcast:
    """Fans events out to observers; an observer that raises is dropped."""

    def __init__(self, observers: list[Observer] | None = None) -> None:
        self.observers: list[Observer] = list(observers or [])

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)

    def handle(self, event: EngineEvent) -> None:
        for observer in list(self.observers):
            try:
                observer.handle(event)
            except Exception:
                log.exception("observer %r failed on %s; detached", observer, event.kind)
                self.observers.remove(observer)


__all__ = [
    "AnnotationAdded",
    "Broadcast",
    "Custom",
    "EngineEvent",
    "JobFinished",
    "JobInfo",
    "JobQueued",
    "JobStarted",
    "JobWaiting",
    "LogLine",
    "Observer",
    "RunFinished",
    "RunStarted",
    "RunWaiting",
    "StepFinished",
    "StepStarted",
]
