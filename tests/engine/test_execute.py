"""`engine.execute`: the executor's lifecycle around the runs of one process."""

from __future__ import annotations

import asyncio

from stageline.engine.execute import execute
from stageline.engine.scheduler import RunSpec
from stageline.executors.base import CancelToken, JobRequest, JobResult, JobSink
from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.engine.conftest import job, plan


class LifecycleExecutor(FakeExecutor):
    """A fake executor that notes start, each job and close, in order."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: CancelToken) -> JobResult:
        self.calls.append(f"job {request.job.key}")
        return await super().run_job(request, sink, cancel)

    async def close(self) -> None:
        self.calls.append("close")


def test_the_executor_is_started_once_before_every_run_and_closed_after(store: Store) -> None:
    executor = LifecycleExecutor()
    specs = [
        RunSpec(plan=plan(job("a"), job("b", needs=["a"])), repo_dir=str(store.home)),
        RunSpec(plan=plan(job("c")), repo_dir=str(store.home)),
    ]
    done = asyncio.run(execute(specs, store, executor, parallel=4))
    assert done.exit_code == 0
    assert executor.calls[0] == "start" and executor.calls[-1] == "close"
    assert sorted(executor.calls[1:-1]) == ["job a", "job b", "job c"]


def test_a_failed_run_still_closes_the_executor(store: Store) -> None:
    executor = LifecycleExecutor(default=Script(conclusion=Conclusion.FAILURE))
    spec = RunSpec(plan=plan(job("a")), repo_dir=str(store.home))
    done = asyncio.run(execute([spec], store, executor, parallel=2))
    assert done.exit_code == 1
    assert executor.calls == ["start", "job a", "close"]
