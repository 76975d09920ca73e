"""The executor contract: how the engine has jobs run somewhere (ADR 0003).

Lifecycle, driven by the engine (or any other caller)::

    await executor.start()                                   # once, before any job
    result = await executor.run_job(request, sink, cancel)   # many, concurrently
    await executor.close()                                   # once, after the last job

`start()` acquires what the executor needs for its life (a connection to a broker, a
pool of workers); it may raise (nothing reachable), and then no job is sent. The caller
calls `close()` after the last `run_job` it started has returned; `close()` releases what
`start()` acquired, must be safe to call even if `start()` failed or was never called,
and calling it twice is harmless. The local and fake executors need neither, and
implement both as no-ops; the sandbox executor checks bubblewrap in `start()`.

Jobs are identified by `request.identity`, (run id, job key, attempt). **An executor
accepts each identity once.** A second `run_job` with an identity it has already
accepted, whether that job is still running or long finished, raises `JobRefused` at once,
before any call to `sink`: the first call's result is the only one, so a job sent again
(a redelivered message, a resume that replays its queue) is never run, nor recorded,
twice. To run a job again on purpose, the engine sends the next attempt.

For one job, `run_job` must:

* create a fresh workspace for the job (the repository at `request.sha`), its own
  RUNNER_TEMP, and an environment built only from the request (plus a small allow-list
  of host variables); a job never sees another job's files or processes;
* run the job's steps in order, calling `sink` as they progress (`step_started` before a
  step's first log line, `log` for every line, already masked, `step_finished` once per
  step, skipped steps included; a skipped step gets no `step_started`), and
  `sink.heartbeat()` every `HEARTBEAT_S` while the job runs. Post steps that actions
  register (``Post <step name>``: the cache save, a node action's ``post``) run after the
  last step and are reported with the next indices (``len(job.steps)``, ...);
* report in each `StepResult` where its log is and its size (`log_path`, `log_size`): the
  engine records them without reading the log;
* enforce the job's and each step's `timeout-minutes`, killing the whole process tree;
* stop promptly when `cancel` is set: kill the process tree, report the running step as
  cancelled and the remaining ones as skipped, return conclusion `cancelled`;
* always clean up what it created (unless `request.keep_workspace`), even when setup
  failed half-way or the job was cancelled;
* never raise for a failure of the job itself (a step that fails, a missing shell, a
  bad action input): that is a `JobResult` with conclusion `failure` and an annotation.
  It raises only for a fault of the executor (a bug, the machine out of disk, ...) and
  `JobRefused`.

`JobRequest` and `JobResult` are plain data with a JSON round trip (`to_dict`,
`from_dict`) so they can cross a process or a machine; secrets are in `request.secrets`
and never appear in `repr()`. `cancel` is any `CancelToken` (`asyncio.Event` is one).
"""

from __future__ import annotations

from typing import Protocol

from stageline.errors import RunError
from stageline.runner.contract import (
    HEARTBEAT_S,
    Annotation,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
    StepResult,
)


class JobRefused(RunError):
    """The executor has already accepted this (run id, job key, attempt)."""


class Executor(Protocol):
    """Runs jobs; many `run_job` calls may be in flight at once."""

    name: str

    async def start(self) -> None: ...

    async def run_job(
        self, request: JobRequest, sink: JobSink, cancel: CancelToken
    ) -> JobResult: ...

    async def close(self) -> None: ...


class Admissions:
    """The identities an executor has accepted, to refuse one sent again.

    Kept in memory for the executor's life: the engine that sends a job and the executor
    that runs it live as long as the run. An executor whose jobs outlive it (a worker fed
    by a broker) keeps them where the redelivery can see them instead.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, int]] = set()

    def admit(self, request: JobRequest) -> None:
        """Accept `request`, or raise `JobRefused` if its identity was accepted before."""
        identity = request.identity
        if identity in self._seen:
            run_id, key, attempt = identity
            raise JobRefused(
                f"job '{key}' of run {run_id} (attempt {attempt}) was already accepted; "
                "it is not run twice",
                hint="send the next attempt to run it again",
            )
        self._seen.add(identity)


__all__ = [
    "HEARTBEAT_S",
    "Admissions",
    "Annotation",
    "CancelToken",
    "Executor",
    "JobRefused",
    "JobRequest",
    "JobResult",
    "JobSink",
    "StepResult",
]
