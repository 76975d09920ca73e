"""The state of one running job, shared by the step runner and the built-in actions."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stageline.plan.model import PlannedStep
from stageline.runner import token
from stageline.runner.commands import CommandProcessor
from stageline.runner.contexts import Evaluator, default_env, step_env
from stageline.runner.contract import Annotation, CancelToken, JobRequest, JobSink
from stageline.runner.files import StepFiles
from stageline.runner.logs import StepLog
from stageline.runner.masking import Masker
from stageline.runner.ports import JobPorts
from stageline.runner.process import ProcessGroups
from stageline.runner.workspace import Workspace
from stageline.runs.states import Conclusion

#: GitHub's default job timeout, and how long `always()` steps may run after a cancel
#: (GitHub's `cancel-timeout-minutes` default).
DEFAULT_JOB_TIMEOUT_MINUTES = 360.0
CANCEL_TIMEOUT_MINUTES = 5.0


@dataclass(slots=True)
class StepOutcome:
    """How a step (or an action) ended; the caller turns it into a `StepResult`."""

    outcome: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    summary: str = ""
    #: GITHUB_STATE / save-state values, handed to the action's post step.
    state: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failed(cls, **kwargs: Any) -> StepOutcome:
        return cls(Conclusion.FAILURE, **kwargs)


@dataclass(slots=True)
class Scope:
    """Where a step runs: the job itself, or inside a composite action."""

    index: int
    log: StepLog
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None
    default_shell: str | None = None
    default_working_directory: str | None = None
    action_path: str = ""
    action_repository: str = ""
    action_ref: str = ""
    #: Environment the caller passes down (a composite action's calling step's `env`).
    env: dict[str, str] = field(default_factory=dict)
    failed: bool = False


@dataclass(slots=True)
class PostStep:
    """A step an action registered to run at the end of the job (e.g. cache save); also
    the shape of a node action's `pre`, run at its start."""

    name: str
    condition: str
    run: Callable[[Scope], Awaitable[StepOutcome]]


@dataclass(slots=True)
class PreRun:
    """A node action's `pre`, handled at job start for the job's step `step`: main then
    does not run it again, and sees (as post does) the GITHUB_STATE it saved."""

    step: PlannedStep  # matched by identity: an action nested in a composite differs
    ran: bool = False
    saved: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class JobState:
    request: JobRequest
    sink: JobSink
    ports: JobPorts
    ws: Workspace
    masker: Masker
    processor: CommandProcessor
    evaluator: Evaluator
    groups: ProcessGroups
    github: dict[str, Any]
    runner: dict[str, Any]
    base_env: dict[str, str]
    workflow_env: dict[str, str]
    cancel: CancelToken
    deadline: float
    job_env: dict[str, str] = field(default_factory=dict)
    added_env: dict[str, str] = field(default_factory=dict)
    path_additions: list[str] = field(default_factory=list)
    failed: bool = False
    cancelled: bool = False
    timed_out: bool = False
    annotations: list[Annotation] = field(default_factory=list)
    post_steps: list[PostStep] = field(default_factory=list)
    #: The job-start `pre` of each node action step, by step index.
    pre_runs: dict[int, PreRun] = field(default_factory=dict)
    logs: list[StepLog] = field(default_factory=list)
    action_names: Counter[str] = field(default_factory=Counter)
    #: The job's file-command files, created by the first step that runs a process.
    files: StepFiles | None = None
    #: Whether the job was told that `secrets.GITHUB_TOKEN` is empty (`runner.token`).
    token_warned: bool = False

    def step_files(self) -> StepFiles:
        if self.files is None:
            self.files = StepFiles.create(os.path.join(self.ws.temp, "_runner_file_commands"))
        return self.files

    @property
    def status(self) -> str:
        if self.cancelled or self.timed_out:
            return "cancelled"
        return "failure" if self.failed else "success"

    def stop(self, *, timed_out: bool = False) -> None:
        """The job was cancelled (or timed out): later `always()` steps get a fresh, bounded
        window instead of being killed on sight."""
        if timed_out:
            self.timed_out = True
        else:
            self.cancelled = True
        self.cancel = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + CANCEL_TIMEOUT_MINUTES * 60

    def observe_cancel(self) -> None:
        """Take note of a cancel request that arrived between steps."""
        if self.cancel.is_set() and not (self.cancelled or self.timed_out):
            self.stop()

    def env_context(self, step_env: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.workflow_env, **self.job_env, **self.added_env, **(step_env or {})}

    def contexts(self, scope: Scope, env: Mapping[str, str], status: str) -> dict[str, Any]:
        github = self.github
        if scope.action_path:
            github = {
                **github,
                "action_path": scope.action_path,
                "action_repository": scope.action_repository,
                "action_ref": scope.action_ref,
            }
        contexts = dict(self.request.contexts)
        contexts.update(
            github=github,
            env=dict(env),
            runner=self.runner,
            job={"status": status, "container": {}, "services": self.request.job.services_context},
            steps=scope.steps,
            secrets=token.secrets_context(self.request.secrets),
        )
        if scope.inputs is not None:
            contexts["inputs"] = scope.inputs
        contexts.setdefault("inputs", {})
        return contexts

    def process_env(
        self,
        scope: Scope,
        step_env_layer: Mapping[str, str],
        extra: Mapping[str, str],
        action: str,
    ) -> dict[str, str]:
        github = {
            **self.github,
            "action": action,
            "action_path": scope.action_path,
            "action_repository": scope.action_repository,
            "action_ref": scope.action_ref,
        }
        layers = [self.workflow_env, self.job_env, self.added_env, step_env_layer]
        return step_env(
            self.base_env,
            layers,
            {**default_env(github, self.runner), **extra},
            self.path_additions,
        )

    def action_name(self, step_id: str | None, uses: str | None) -> str:
        """GITHUB_ACTION: the step id, else ``__run`` / ``__owner_repo`` with a ``_N`` suffix
        from the second use on."""
        if step_id:
            return step_id
        base = "__run"
        if uses:
            base = "__" + "".join(c if c.isalnum() else "_" for c in uses.split("@")[0])
        self.action_names[base] += 1
        count = self.action_names[base]
        return base if count == 1 else f"{base}_{count}"

    def annotate(self, annotation: Annotation) -> None:
        self.annotations.append(annotation)
        self.sink.annotation(annotation)

    def error(self, scope: Scope, message: str, title: str | None = None) -> None:
        """An error of the step in `scope`: logged in GitHub's format and annotated."""
        masked = self.masker.mask(message)
        scope.log.write(f"##[error]{masked}")
        self.annotate(Annotation("error", masked, title=title, step_index=scope.index))

    def warning(self, scope: Scope, message: str) -> None:
        masked = self.masker.mask(message)
        scope.log.write(f"##[warning]{masked}")
        self.annotate(Annotation("warning", masked, step_index=scope.index))
