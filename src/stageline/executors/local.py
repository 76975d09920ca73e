"""The local executor: each job runs on this machine, in its own workspace and processes."""

from __future__ import annotations

import asyncio

from stageline.runner import run_job
from stageline.runner.contract import JobRequest, JobResult, JobSink
from stageline.runner.job import DEFAULT_KILL_GRACE


class LocalExecutor:
    """Runs jobs with `stageline.runner` in this process's event loop.

    `kill_grace` is how long a timed-out or cancelled step's process group gets between
    SIGTERM and SIGKILL.
    """

    name = "local"

    def __init__(self, *, kill_grace: float = DEFAULT_KILL_GRACE) -> None:
        self.kill_grace = kill_grace

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: asyncio.Event) -> JobResult:
        return await run_job(request, sink, cancel, kill_grace=self.kill_grace)
