"""The off-terminal view: one line per event worth reading, prefixed `[job/step]`.

Lines are written and flushed as they come, so a CI log or a pipe shows the
run as it goes. Output lines of steps are printed as the executor masked them.
"""

from __future__ import annotations

import sys
from typing import TextIO

from stageline.engine import events as ev

_MARKS = {"success": "✓", "failure": "✗", "cancelled": "⊘", "skipped": "-"}


class LinePrinter:
    def __init__(self, stream: TextIO | None = None, *, prefix_run: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.prefix_run = prefix_run
        self._names: dict[str, str] = {}
        self._steps: dict[tuple[str, int], str] = {}

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _job(self, event: ev.EngineEvent, key: str) -> str:
        name = self._names.get(key, key)
        return f"#{event.run_id} {name}" if self.prefix_run else name

    def handle(self, event: ev.EngineEvent) -> None:
        if isinstance(event, ev.RunStarted):
            self._names.update((j.key, j.name) for j in event.jobs)
            self._write(
                f"run #{event.number} (id {event.run_id}): {event.workflow} on {event.event} "
                f"{event.ref or event.sha[:12]} ({event.sha[:12]})"
            )
        elif isinstance(event, ev.JobQueued):
            self._names[event.job.key] = event.job.name
        elif isinstance(event, ev.StepStarted):
            self._steps[(event.job_key, event.index)] = event.name
        elif isinstance(event, ev.LogLine):
            step = self._steps.get((event.job_key, event.step_index), str(event.step_index + 1))
            self._write(f"[{self._job(event, event.job_key)}/{step}] {event.line}")
        elif isinstance(event, ev.StepFinished):
            if event.conclusion != "success" or event.outcome != "success":
                self._write(
                    f"[{self._job(event, event.job_key)}/{event.name}] "
                    f"{_MARKS.get(event.outcome, '?')} {event.outcome}"
                    + (
                        f" (continued: {event.conclusion})"
                        if event.conclusion != event.outcome
                        else ""
                    )
                )
        elif isinstance(event, ev.JobStarted):
            self._write(f"[{self._job(event, event.job_key)}] started")
        elif isinstance(event, ev.JobWaiting):
            self._write(f"[{self._job(event, event.job_key)}] waiting: {event.waiting_for}")
        elif isinstance(event, ev.JobFinished):
            reason = f": {event.reason}" if event.reason else ""
            took = f" in {event.duration:.1f}s" if event.duration else ""
            mark = _MARKS.get(event.conclusion, "?")
            self._write(
                f"[{self._job(event, event.job_key)}] {mark} {event.conclusion}{took}{reason}"
            )
        elif isinstance(event, ev.AnnotationAdded):
            where = f" {event.file}:{event.line}" if event.file else ""
            self._write(
                f"[{self._job(event, event.job_key)}] {event.level}{where}: {event.message}"
            )
        elif isinstance(event, ev.RunFinished):
            reason = f": {event.reason}" if event.reason else ""
            self._write(
                f"run #{event.number} {event.workflow}: {event.conclusion} "
                f"in {event.duration:.1f}s{reason}"
            )
