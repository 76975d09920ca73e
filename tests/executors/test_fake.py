"""FakeExecutor keeps the executor contract the engine relies on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stageline.executors import get_executor
from stageline.executors.base import Annotation, JobRequest, StepResult
from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from tests.engine.conftest import job, step

C = Conclusion


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        self.calls.append(("started", index, name))

    def log(self, index: int, line: str) -> None:
        self.calls.append(("log", index, line))

    def step_finished(self, result: StepResult) -> None:
        self.calls.append(("finished", result.index, result.conclusion))

    def annotation(self, annotation: Annotation) -> None:
        self.calls.append(("annotation", annotation.message))

    def event(self, name: str, data: dict[str, Any]) -> None:
        self.calls.append(("event", name))

    def heartbeat(self) -> None:
        self.calls.append(("heartbeat",))


def request(**kw: Any) -> JobRequest:
    planned = job("build", steps=[step(0, "make"), step(1, "make test")], **kw)
    return JobRequest(
        run_id="1",
        job=planned,
        contexts={},
        sha="a" * 40,
        ref="refs/heads/main",
    )


def test_it_is_registered_as_fake() -> None:
    assert isinstance(get_executor("fake"), FakeExecutor)


def test_steps_are_reported_in_order_once_each() -> None:
    sink = Sink()
    executor = FakeExecutor({"build": Script(lines=["hi"], outputs={"v": "1"})})
    result = asyncio.run(executor.run_job(request(), sink, asyncio.Event()))
    assert result.conclusion is C.SUCCESS and result.outputs == {"v": "1"}
    assert sink.calls == [
        ("started", 0, "Run make"),
        ("log", 0, "hi"),
        ("finished", 0, C.SUCCESS),
        ("started", 1, "Run make test"),
        ("log", 1, "hi"),
        ("finished", 1, C.SUCCESS),
    ]
    assert executor.started == executor.finished == ["build"]


def test_cancel_reports_the_running_step_cancelled_and_returns_promptly() -> None:
    sink = Sink()
    executor = FakeExecutor(default=Script(hang=True))

    async def main() -> Any:
        cancel = asyncio.Event()
        task = asyncio.create_task(executor.run_job(request(), sink, cancel))
        while not executor.running:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        cancel.set()
        return await task

    result = asyncio.run(main())
    assert result.conclusion is C.CANCELLED
    assert [c for c in sink.calls if c[0] == "finished"] == [
        ("finished", 0, C.SUCCESS),
        ("finished", 1, C.CANCELLED),
    ]
    assert not executor.running


def test_a_fault_raises_instead_of_failing_the_job() -> None:
    executor = FakeExecutor({"build": Script(fault=OSError("no space left on device"))})
    with pytest.raises(OSError, match="no space"):
        asyncio.run(executor.run_job(request(), Sink(), asyncio.Event()))
    assert executor.finished == ["build"]
