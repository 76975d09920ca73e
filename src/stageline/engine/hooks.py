"""Extension points the engine consults around each job (filled in by `stageline.deploy`).

Both hooks are optional; the defaults let every job through untouched. A hook
runs inside the job's task, so holding (awaiting) there never blocks other jobs
and does not take one of the `--parallel` slots. While a hook holds, it calls
`hold.wait("...")` once with a sentence saying what the job waits for; the
engine records the job (and, when nothing else runs, the run) as `waiting`
with that text, visible to `stageline runs`/`show` in other processes. A hook
must return promptly when `hold.cancel` is set (the run is being cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stageline.plan.model import PlannedJob
from stageline.runner.contract import JobResult


@dataclass(frozen=True, slots=True)
class Decision:
    """A gate's answer: start the job, or fail it with `reason` (never started).

    `secrets`: the environment's secrets, released to the job now that its gate passed
    (over the run's own, under those given with --secret or --secret-file)."""

    allow: bool
    reason: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class Hold:
    """What a hook gets: the job, its contexts, and how to report that it holds."""

    run_id: int
    job: PlannedJob
    #: The job's contexts as its executor will see them (github, needs, matrix, vars...).
    contexts: Mapping[str, Any]
    cancel: asyncio.Event
    wait: Callable[[str], None]


class Gatekeeper(Protocol):
    """Consulted before a job with an `environment:` starts (approvals, branch
    policies, wait timers). Called once per job (and matrix leg); a gate that
    covers the whole run for an environment remembers its decision itself."""

    async def admit(self, hold: Hold) -> Decision: ...


class AfterJob(Protocol):
    """Consulted when a job's executor has finished, before the job's result counts
    for the jobs that need it. May hold (a deploy's bake window) and may turn the
    result into a failure (the window failed); returns the result that counts."""

    async def after_job(self, hold: Hold, result: JobResult) -> JobResult: ...


class AllowAll:
    """The default gatekeeper: every environment is open."""

    async def admit(self, hold: Hold) -> Decision:
        return Decision(True)


class PassThrough:
    """The default after-job hook: the executor's result stands."""

    async def after_job(self, hold: Hold, result: JobResult) -> JobResult:
        return result
