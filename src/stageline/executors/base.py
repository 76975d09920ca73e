"""The executor contract: how the engine has one job run somewhere.

Lifecycle of one job, driven by the engine::

    result = await executor.run_job(request, sink, cancel)

An executor must:

* create a fresh workspace for the job (the repository at `request.sha`), its own
  RUNNER_TEMP, and an environment built only from the request (plus a small allow-list
  of host variables); a job never sees another job's files or processes;
* run the job's steps in order, calling `sink` as they progress (`step_started` before a
  step's first log line, `log` for every line, already masked, `step_finished` once per
  step, skipped steps included);
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
from dataclasses import dataclass, field
from typing import Any, Protocol

from stageline.plan.model import PlannedJob
from stageline.runs.states import Conclusion


@dataclass(slots=True)
class JobRequest:
    """What an executor needs to run one job. Plain data (JSON-able)."""

    run_id: str
    job: PlannedJob
    #: Expression contexts available to the job: github, env (workflow-level, already
    #: evaluated), vars, inputs, needs, matrix, strategy, stageline, ...; `secrets` is
    #: added by the executor from `secrets` below.
    contexts: dict[str, Any]
    #: Path of the source repository (a git repository) and the commit to materialise.
    repo_dir: str
    sha: str
    ref: str
    #: Directories owned by the run: each job's workspace is created under
    #: `work_root/<job-slug>`; artifacts and logs are shared per run; cache per repository.
    work_root: str
    artifacts_dir: str
    cache_dir: str
    log_dir: str
    #: Extra directories searched for `uses: OWNER/REPO@REF` actions
    #: (`<dir>/OWNER/REPO@REF/action.yml`), e.g. the repository's `.stageline/actions`.
    action_dirs: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    #: Extra environment variables given on the command line (`--env`), lowest precedence
    #: after the host allow-list.
    extra_env: dict[str, str] = field(default_factory=dict)
    keep_workspace: bool = False


@dataclass(slots=True)
class Annotation:
    """An `::error::`/`::warning::`/`::notice::` or a failure the runner reports."""

    level: str  # "error" | "warning" | "notice"
    message: str
    title: str | None = None
    file: str | None = None
    line: int | None = None
    col: int | None = None
    step_index: int | None = None


@dataclass(slots=True)
class StepResult:
    index: int
    name: str
    outcome: Conclusion
    conclusion: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    started_at: float | None = None  # time.time()
    finished_at: float | None = None
    log_path: str | None = None
    summary: str = ""  # GITHUB_STEP_SUMMARY contents


@dataclass(slots=True)
class JobResult:
    conclusion: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    #: Why the job ended as it did when no step says it (timeout, cancel, setup fault).
    reason: str | None = None


class JobSink(Protocol):
    """Callbacks an executor calls while a job runs; the engine records them.

    Calls come from the executor's event loop task (or, for remote executors, are
    replayed there), in order for a given job. They must return quickly.
    """

    def step_started(self, index: int, name: str) -> None: ...

    def log(self, index: int, line: str) -> None:
        """One line of a step's output, masked, without its trailing newline."""

    def step_finished(self, result: StepResult) -> None: ...

    def annotation(self, annotation: Annotation) -> None: ...

    def event(self, name: str, data: dict[str, Any]) -> None:
        """Anything else worth recording, e.g. ``approval.auto`` from
        `hmarr/auto-approve-action` or ``artifact.uploaded``."""


class Executor(Protocol):
    """Runs one job at a time per call; many calls may be in flight at once."""

    name: str

    async def run_job(
        self, request: JobRequest, sink: JobSink, cancel: asyncio.Event
    ) -> JobResult: ...
