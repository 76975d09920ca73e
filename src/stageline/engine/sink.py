"""The `JobSink` the engine gives an executor: record, then tell observers."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from stageline.engine import events as ev
from stageline.engine.recording import Recording
from stageline.executors.base import Annotation, StepResult
from stageline.store.logs import write_summary

#: Lines kept per job for the failure summary (`JobFinished.tail`).
TAIL_LINES = 12
#: `event` names the sink takes itself instead of recording them as they are:
#: `job.runner` {name} sets the job's `runner_name`; `job.waiting` {waiting_for} holds
#: the job as waiting (a remote executor with no worker for it), `None` ends the hold.
RUNNER_EVENT = "job.runner"
WAITING_EVENT = "job.waiting"
#: `job.retried` {reason} is recorded, and drops the job's steps so far (a lost
#: attempt's): the retry records its own.
RETRIED_EVENT = "job.retried"


class RecordingSink:
    """One per running job. Calls are cheap: a queued write and an event object."""

    __slots__ = ("_hold", "_key", "_recording", "_run", "_started", "tail")

    def __init__(
        self, recording: Recording, key: str, hold: Callable[[str | None], None] | None = None
    ) -> None:
        self._recording = recording
        self._key = key
        self._hold = hold
        self._run = str(recording.run_id)
        self._started: dict[int, float] = {}
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    @property
    def _recorder(self) -> Any:
        return self._recording.recorder

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        now = datetime.now(UTC).timestamp()
        self._started[index] = now
        self.tail.clear()
        self._recorder.step_started(self._key, index, name, now, log_path)
        self._recording.emit(
            ev.StepStarted(run_id=self._run, job_key=self._key, index=index, name=name)
        )

    def log(self, index: int, line: str) -> None:
        self.tail.append(line)
        if self._recording.observer is not None:
            self._recording.emit(
                ev.LogLine(run_id=self._run, job_key=self._key, step_index=index, line=line)
            )

    def step_finished(self, result: StepResult) -> None:
        started = result.index in self._started
        values: dict[str, Any] = {
            "outcome": result.outcome,
            "conclusion": result.conclusion,
            "exit_code": result.exit_code,
            "finished_at": result.finished_at,
            "log_path": result.log_path,
            "log_size": result.log_size,
            "outputs": dict(result.outputs),
        }
        if not started:
            values["name"] = result.name
            values["started_at"] = result.started_at
        elif result.started_at is not None:
            values["started_at"] = result.started_at
        self._recorder.step_finished(self._key, result.index, started, **values)
        if result.summary and result.log_path:
            write_summary(result.log_path, result.summary)
        begun = result.started_at or self._started.get(result.index)
        duration = (result.finished_at or 0) - begun if begun and result.finished_at else 0.0
        self._recording.emit(
            ev.StepFinished(
                run_id=self._run,
                job_key=self._key,
                index=result.index,
                name=result.name,
                outcome=str(result.outcome),
                conclusion=str(result.conclusion),
                duration=duration,
            )
        )

    def annotation(self, annotation: Annotation) -> None:
        self._recorder.annotation(
            self._key,
            step_number=annotation.step_index,
            level=annotation.level,
            message=annotation.message,
            title=annotation.title,
            file=annotation.file,
            line=annotation.line,
            col=annotation.col,
        )
        self._recording.emit(
            ev.AnnotationAdded(
                run_id=self._run,
                job_key=self._key,
                level=annotation.level,
                message=annotation.message,
                file=annotation.file,
                line=annotation.line,
            )
        )

    def heartbeat(self) -> None:
        """Nothing to do in-process: the run's own heartbeat (`Scheduler._beat`) shows
        this process alive, and so every job it runs."""

    def event(self, name: str, data: dict[str, Any]) -> None:
        if name == RUNNER_EVENT:
            self._recorder.job(self._key, runner_name=str(data.get("name") or "") or None)
            if self._hold is not None:
                self._hold(None)
            return
        if name == WAITING_EVENT and self._hold is not None:
            self._hold(str(data.get("waiting_for") or "") or None)
            return
        if name == RETRIED_EVENT:
            self._recorder.clear_steps(self._key)
            self._started.clear()
        self._recorder.event(name, self._key, data)
        if name == "artifact.uploaded":
            days = data.get("retention_days")
            expires = None
            if isinstance(days, int | float) and days > 0:
                expires = datetime.now(UTC).timestamp() + float(days) * 86400
            self._recorder.artifact(
                self._key,
                name=str(data.get("name", "")),
                path=str(data.get("path", "")),
                size=data.get("size"),
                expires_at=expires,
            )
        self._recording.emit(ev.Custom(run_id=self._run, job_key=self._key, name=name, data=data))
