"""The data that crosses between the engine, an executor and the job runner.

Defined here, in the runner package, because the runner (below the executors, see
docs/adr/0001-runner-package.md) produces and consumes it; `stageline.executors.base`
re-exports every name, and the lifecycle contract is documented there.
"""

from __future__ import annotations

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


__all__ = ["Annotation", "JobRequest", "JobResult", "JobSink", "StepResult"]
