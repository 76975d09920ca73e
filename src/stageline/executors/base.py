"""The executor contract: how the engine has one job run somewhere.

Lifecycle of one job, driven by the engine::

    result = await executor.run_job(request, sink, cancel)

An executor must:

* create a fresh workspace for the job (the repository at `request.sha`), its own
  RUNNER_TEMP, and an environment built only from the request (plus a small allow-list
  of host variables); a job never sees another job's files or processes;
* run the job's steps in order, calling `sink` as they progress (`step_started` before a
  step's first log line, `log` for every line, already masked, `step_finished` once per
  step, skipped steps included; a skipped step gets no `step_started`). Post steps that
  actions register (``Post <step name>``: the cache save, a node action's ``post``) run
  after the last step and are reported with the next indices (``len(job.steps)``, ...);
* enforce the job's and each step's `timeout-minutes`, killing the whole process tree;
* stop promptly when `cancel` is set: kill the process tree, report the running step as
  cancelled and the remaining ones as skipped, return conclusion `cancelled`;
* always clean up what it created (unless `request.keep_workspace`), even when setup
  failed half-way or the job was cancelled;
* never raise for a failure of the job itself (a step that fails, a missing shell, a
  bad action input): that is a `JobResult` with conclusion `failure` and an annotation.
  It raises only for a fault of the executor (a bug, the machine out of disk, ...).

Everything in `JobRequest` is plain data so it can cross a process boundary; secrets are
in `secrets` and never appear in `repr()`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from stageline.runner.contract import Annotation, JobRequest, JobResult, JobSink, StepResult


class Executor(Protocol):
    """Runs one job at a time per call; many calls may be in flight at once."""

    name: str

    async def run_job(
        self, request: JobRequest, sink: JobSink, cancel: asyncio.Event
    ) -> JobResult: ...


__all__ = ["Annotation", "Executor", "JobRequest", "JobResult", "JobSink", "StepResult"]
