"""The data that crosses between the engine, an executor and the job runner.

Defined here, in the runner package, because the runner (below the executors, see
docs/adr/0001-runner-package.md) produces and consumes it; `stageline.executors.base`
re-exports every name, and the lifecycle contract is documented there (ADR 0003).

Requests and results are plain data with a JSON round trip (`to_dict`/`from_dict`), so
a job can cross a process or a machine. The local executor passes the objects as they
are: the round trip is for executors that ship a job elsewhere, never on the local path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from stageline.plan.model import PlannedJob, job_from_dict
from stageline.runner.places import LocalDirs
from stageline.runs.states import Conclusion


@dataclass(slots=True)
class JobRequest:
    """What an executor needs to run one job: identifiers, the plan's job, contexts, secrets.

    It names no directory of the engine's machine: the runner finds its workspace,
    artifacts, cache and logs through `stageline.runner.ports`. `local` is the one
    exception, and it is the local implementations' configuration (the run's directories
    on this machine), not part of the contract: an executor on another machine ignores it.
    """

    run_id: str
    job: PlannedJob
    #: Expression contexts available to the job: github, env (workflow-level, already
    #: evaluated), vars, inputs, needs, matrix, strategy, stageline, ...; `secrets` is
    #: added by the executor from `secrets` below.
    contexts: dict[str, Any]
    #: The commit to materialise, and the ref that reached it.
    sha: str
    ref: str
    #: With `run_id` and `job.key`, the identity an executor accepts once (see
    #: `stageline.executors.base`); the engine sends a higher attempt to run a job again.
    attempt: int = 1
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    #: Extra environment variables given on the command line (`--env`), lowest precedence
    #: after the host allow-list.
    extra_env: dict[str, str] = field(default_factory=dict)
    keep_workspace: bool = False
    local: LocalDirs | None = None

    @property
    def identity(self) -> tuple[str, str, int]:
        """(run id, job key, attempt): what an executor accepts at most once."""
        return (self.run_id, self.job.key, self.attempt)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data, secrets included (the transport must protect it)."""
        data = {name: getattr(self, name) for name in _REQUEST_FIELDS}
        data["job"] = asdict(self.job)
        data["local"] = asdict(self.local) if self.local is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRequest:
        values = {name: data[name] for name in _REQUEST_FIELDS if name in data}
        local = data.get("local")
        return cls(
            job=job_from_dict(data["job"]),
            local=LocalDirs(**local) if local is not None else None,
            **values,
        )


_REQUEST_FIELDS = (
    "run_id",
    "contexts",
    "sha",
    "ref",
    "attempt",
    "secrets",
    "extra_env",
    "keep_workspace",
)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Annotation:
        return cls(**data)


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
    #: Where the step's log is, as the log store names it (a path for local files),
    #: and its size in bytes when the step finished: the engine records both.
    log_path: str | None = None
    log_size: int | None = None
    summary: str = ""  # GITHUB_STEP_SUMMARY contents

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["conclusion"] = self.conclusion.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepResult:
        return cls(
            **{
                **data,
                "outcome": Conclusion(data["outcome"]),
                "conclusion": Conclusion(data["conclusion"]),
            }
        )


@dataclass(slots=True)
class JobResult:
    conclusion: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    #: Why the job ended as it did when no step says it (timeout, cancel, setup fault).
    reason: str | None = None
    #: The job's `environment.url`, evaluated after its steps as GitHub does (None
    #: when the job names no URL or it could not be evaluated).
    environment_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conclusion": self.conclusion.value,
            "outputs": dict(self.outputs),
            "steps": [s.to_dict() for s in self.steps],
            "annotations": [a.to_dict() for a in self.annotations],
            "reason": self.reason,
            "environment_url": self.environment_url,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        return cls(
            Conclusion(data["conclusion"]),
            dict(data.get("outputs") or {}),
            [StepResult.from_dict(s) for s in data.get("steps") or []],
            [Annotation.from_dict(a) for a in data.get("annotations") or []],
            data.get("reason"),
            data.get("environment_url"),
        )


class CancelToken(Protocol):
    """A request to stop a job, as the executor and the runner see it.

    `asyncio.Event` satisfies it (the local case); a remote executor passes a token fed by
    its transport (a cancel message, a lease the server refused to extend).
    """

    def is_set(self) -> bool:
        """True once the job should stop; it never becomes false again."""

    async def wait(self) -> object:
        """Return once the token is set (at once if it is)."""


class JobSink(Protocol):
    """Callbacks an executor calls while a job runs; the engine records them.

    Calls come from the executor's event loop task (or, for remote executors, are
    replayed there), in order for a given job. They must return quickly.
    """

    def step_started(self, index: int, name: str, log_path: str | None = None) -> None:
        """Step `index` began, writing its log at `log_path` (recorded at once, so a
        killed run still has it)."""
        ...

    def log(self, index: int, line: str) -> None:
        """One line of a step's output, masked, without its trailing newline."""

    def step_finished(self, result: StepResult) -> None: ...

    def annotation(self, annotation: Annotation) -> None: ...

    def event(self, name: str, data: dict[str, Any]) -> None:
        """Anything else worth recording, e.g. ``approval.auto`` from
        `hmarr/auto-approve-action` or ``artifact.uploaded``."""

    def heartbeat(self) -> None:
        """The job is still running: called every `HEARTBEAT_S` while it runs (a sink
        that has no use for it does nothing; a remote engine extends the job's lease)."""


#: How often an executor calls `JobSink.heartbeat` while a job runs.
HEARTBEAT_S = 10.0


__all__ = [
    "HEARTBEAT_S",
    "Annotation",
    "CancelToken",
    "JobRequest",
    "JobResult",
    "JobSink",
    "StepResult",
]
