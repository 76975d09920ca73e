"""Adopting a worker's attempt after a server restart (ADR 0012).

A restarted celery server resumes the runs its predecessor was driving
(`RunHost.recover`), and the resumed engine runs every unfinished job again, its
steps forgotten (`engine.resume`). A job whose attempt is still live on a worker must
not run twice: the dispatcher *adopts* the attempt instead of sending a new one, and
its worker's buffered events and finish are accepted where they left off (`last_seq`).

`Adoptable` is what the old record said about such a job, read before the resume
forgets it: `restore` tells the job's new sink the steps (and annotations) recorded
before the restart, so the record reads as if the server had never stopped. The
steps' log files are kept: the worker's later `write` events append to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stageline.executors.base import Annotation, JobSink, StepResult
from stageline.runs.states import Conclusion, Status
from stageline.store.worker_records import LIVE_ATTEMPT_STATES

if TYPE_CHECKING:
    from stageline.store import RunDetail
    from stageline.store.records import AnnotationRecord, StepRecord
    from stageline.store.worker_records import AttemptRow

#: Calls `fn(*args)` on the run's loop, after everything posted before.
Post = Callable[..., None]


@dataclass(frozen=True, slots=True)
class Adoptable:
    """A live attempt of a run being resumed, with its job's record before the resume."""

    attempt: AttemptRow
    steps: tuple[StepRecord, ...] = ()
    annotations: tuple[AnnotationRecord, ...] = ()

    @property
    def key(self) -> tuple[int, str]:
        return (self.attempt.run_id, self.attempt.job_key)


@dataclass(slots=True)
class Restored:
    """What `restore` told the sink: steps still open (index → name), and the log
    (path, size) of the steps that had finished."""

    open_steps: dict[int, str] = field(default_factory=dict)
    logged: dict[int, tuple[str, int | None]] = field(default_factory=dict)


def adoptable(attempts: list[AttemptRow], detail: RunDetail) -> list[Adoptable]:
    """The live attempts among `attempts` (one run's), each with its job's record."""
    jobs = {job.key: job for job in detail.jobs}
    found: list[Adoptable] = []
    for row in attempts:
        if row.state not in LIVE_ATTEMPT_STATES:
            continue
        job = jobs.get(row.job_key)
        notes = tuple(a for a in detail.annotations if a.job_key == row.job_key)
        found.append(Adoptable(row, tuple(job.steps) if job is not None else (), notes))
    return found


def restore(adopted: Adoptable, sink: JobSink, post: Post) -> Restored:
    """Post onto the job's new `sink` what its record held before the resume."""
    done = Restored()
    for step in sorted(adopted.steps, key=lambda s: s.number):
        post(sink.step_started, step.number, step.name, step.log_path)
        if step.status != Status.COMPLETED:
            done.open_steps[step.number] = step.name
            continue
        if step.log_path:
            done.logged[step.number] = (step.log_path, step.log_size)
        post(sink.step_finished, _result(step))
    for note in adopted.annotations:
        post(sink.annotation, _annotation(note))
    if adopted.attempt.worker:
        post(sink.event, "job.runner", {"name": adopted.attempt.worker})
    return done


def _result(step: StepRecord) -> StepResult:
    outputs: dict[str, Any] = dict(step.outputs or {})
    return StepResult(
        step.number,
        step.name,
        Conclusion(step.outcome or Conclusion.FAILURE),
        Conclusion(step.conclusion or Conclusion.FAILURE),
        outputs={str(k): str(v) for k, v in outputs.items()},
        exit_code=step.exit_code,
        started_at=step.started_at.timestamp() if step.started_at else None,
        finished_at=step.finished_at.timestamp() if step.finished_at else None,
        log_path=step.log_path,
        log_size=step.log_size,
    )


def _annotation(note: AnnotationRecord) -> Annotation:
    return Annotation(
        note.level,
        note.message,
        title=note.title,
        file=note.file,
        line=note.line,
        col=note.col,
        step_index=note.step_number,
    )


__all__ = ["Adoptable", "Restored", "adoptable", "restore"]
