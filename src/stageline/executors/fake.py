"""A scripted executor for engine tests (as httpx ships `MockTransport`).

It runs nothing: each job follows a `Script` chosen by the job's key (a matrix
leg, ``test.2``) or, failing that, its job id. It honours the executor contract
(tests/executors/test_contract.py runs on it) — sink calls in order, one
`step_finished` per step, heartbeats, prompt return with `cancelled` when the cancel
token is set, a job sent again refused — and records what happened (`started`,
`finished`, `peak`) so tests can assert ordering and concurrency without timing
anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stageline.executors.base import (
    HEARTBEAT_S,
    Admissions,
    Annotation,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
    StepResult,
)
from stageline.runner.job import heartbeats
from stageline.runs.states import Conclusion

C = Conclusion


@dataclass(slots=True)
class Script:
    """What one fake job does.

    `release`: the job runs until this event is set (or it is cancelled);
    `hang`: it runs until cancelled; `delay`: it sleeps that long first.
    `outputs` may be a function of the request (to echo its contexts).
    """

    conclusion: Conclusion = C.SUCCESS
    outputs: dict[str, str] | Callable[[JobRequest], dict[str, str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    delay: float = 0.0
    hang: bool = False
    release: asyncio.Event | None = None
    annotations: list[Annotation] = field(default_factory=list)
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    reason: str | None = None
    #: Raise this from `run_job` (an executor fault rather than a job failure).
    fault: Exception | None = None


class FakeExecutor:
    name = "fake"

    def __init__(
        self,
        scripts: Mapping[str, Script] | None = None,
        default: Script | None = None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.scripts = dict(scripts or {})
        self.default = default or Script()
        self.heartbeat_s = heartbeat_s
        self._admissions = Admissions()
        self.requests: dict[str, JobRequest] = {}
        self.started: list[str] = []
        self.finished: list[str] = []
        self.running: set[str] = set()
        self.peak = 0
        #: Highest number of legs of one job id running at once.
        self.peak_per_job: dict[str, int] = {}

    def script_for(self, request: JobRequest) -> Script:
        job = request.job
        return self.scripts.get(job.key) or self.scripts.get(job.job_id) or self.default

    async def start(self) -> None:
        """Nothing to acquire."""

    async def close(self) -> None:
        """Nothing to release: a job's `run_job` ends with the job."""

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: CancelToken) -> JobResult:
        self._admissions.admit(request)
        key = request.job.key
        script = self.script_for(request)
        self.requests[key] = request
        self.started.append(key)
        self.running.add(key)
        self.peak = max(self.peak, len(self.running))
        same = sum(1 for k in self.running if self.requests[k].job.job_id == request.job.job_id)
        job_id = request.job.job_id
        self.peak_per_job[job_id] = max(self.peak_per_job.get(job_id, 0), same)
        try:
            if script.fault is not None:
                raise script.fault
            with heartbeats(sink, self.heartbeat_s):
                return await self._steps(request, script, sink, cancel)
        finally:
            self.running.discard(key)
            self.finished.append(key)

    async def _steps(
        self, request: JobRequest, script: Script, sink: JobSink, cancel: CancelToken
    ) -> JobResult:
        names = [s.display_name for s in request.job.steps] or ["Run fake"]
        results: list[StepResult] = []
        cancelled = False
        for index, name in enumerate(names):
            if cancelled:
                results.append(StepResult(index, name, C.SKIPPED, C.SKIPPED))
                sink.step_finished(results[-1])
                continue
            started = time.time()
            sink.step_started(index, name)
            for line in script.lines:
                sink.log(index, line)
            for annotation in script.annotations:
                sink.annotation(annotation)
            for event_name, data in script.events:
                sink.event(event_name, dict(data))
            if index == len(names) - 1:
                cancelled = not await self._wait(script, cancel)
            outcome = C.CANCELLED if cancelled else C.SUCCESS
            if not cancelled and index == len(names) - 1:
                outcome = script.conclusion
            results.append(
                StepResult(
                    index, name, outcome, outcome, started_at=started, finished_at=time.time()
                )
            )
            sink.step_finished(results[-1])
        if cancelled:
            return JobResult(C.CANCELLED, steps=results, reason="cancelled")
        outputs = script.outputs(request) if callable(script.outputs) else dict(script.outputs)
        return JobResult(
            script.conclusion,
            outputs=outputs,
            steps=results,
            annotations=list(script.annotations),
            reason=script.reason,
        )

    @staticmethod
    async def _wait(script: Script, cancel: CancelToken) -> bool:
        """Run the job's time; False when cancelled first."""
        if cancel.is_set():
            return False
        waits: list[asyncio.Future[Any]] = []
        if script.hang:
            pass
        elif script.release is not None:
            waits.append(asyncio.ensure_future(script.release.wait()))
        elif script.delay > 0:
            waits.append(asyncio.ensure_future(asyncio.sleep(script.delay)))
        else:
            await asyncio.sleep(0)
            return not cancel.is_set()
        stop = asyncio.ensure_future(cancel.wait())
        done, pending = await asyncio.wait([stop, *waits], return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()
        return stop not in done
