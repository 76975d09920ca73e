"""The local executor: each job runs on this machine, in its own workspace and processes."""

from __future__ import annotations

import socket

from stageline.errors import RunError
from stageline.executors.base import (
    HEARTBEAT_S,
    Admissions,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
)
from stageline.runner import run_job
from stageline.runner.job import DEFAULT_KILL_GRACE
from stageline.runner.places import local_ports


class LocalExecutor:
    """Runs jobs with `stageline.runner` in this process's event loop, on the directories
    `request.local` names (`stageline.runner.places`). Requests and results stay Python
    objects: nothing is serialised on this path.

    `kill_grace` is how long a timed-out or cancelled step's process group gets between
    SIGTERM and SIGKILL; `heartbeat_s` how often a running job's sink hears from it.
    """

    name = "local"

    def __init__(
        self, *, kill_grace: float = DEFAULT_KILL_GRACE, heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        self.kill_grace = kill_grace
        self.heartbeat_s = heartbeat_s
        self._admissions = Admissions()

    async def start(self) -> None:
        """Nothing to acquire: jobs run in this process."""

    async def close(self) -> None:
        """Nothing to release: every job cleans up after itself before `run_job` returns."""

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: CancelToken) -> JobResult:
        if request.local is None:
            raise RunError(f"job '{request.job.key}': the local executor needs `request.local`")
        self._admissions.admit(request)
        ports = local_ports(request.local, request.sha)
        sink.event("job.runner", {"name": socket.gethostname()})
        return await run_job(
            request, sink, cancel, ports, kill_grace=self.kill_grace, heartbeat_s=self.heartbeat_s
        )
