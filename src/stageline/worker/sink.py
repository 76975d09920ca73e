"""The worker's `JobSink`: each call becomes an event of the attempt's stream (ADR 0012).

The server replays the events onto the run's engine in order; the runner masked every
line before it reached the sink, so nothing here sees a secret.
"""

from __future__ import annotations

from typing import Any

from stageline.runner.contract import Annotation, StepResult
from stageline.worker.client import EventStream


class RemoteSink:
    """A `JobSink` that queues events on `stream`; `heartbeat` does nothing (the worker's
    heartbeat thread extends every lease it holds)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        self._stream.add({"kind": "step_started", "index": index, "name": name})

    def log(self, index: int, line: str) -> None:
        self._stream.add({"kind": "log", "index": index, "line": line})

    def step_finished(self, result: StepResult) -> None:
        self._stream.add({"kind": "step_finished", "result": result.to_dict()})

    def annotation(self, annotation: Annotation) -> None:
        self._stream.add({"kind": "annotation", "annotation": annotation.to_dict()})

    def event(self, name: str, data: dict[str, Any]) -> None:
        self._stream.add({"kind": "event", "name": name, "data": data})

    def heartbeat(self) -> None:
        pass


__all__ = ["RemoteSink"]
