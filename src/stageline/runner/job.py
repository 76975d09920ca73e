"""Run one job: workspace, steps in order, post steps, outputs, cleanup.

`run_job` is what executors call, with the `JobPorts` of the machine it runs on (the
local executor's come from `stageline.runner.places`). It keeps the executor contract
(see `stageline.executors.base`): a failure of the job is a `JobResult`, never an
exception; the workspace and every process the job started are gone when it returns (the
workspace stays with `keep_workspace`); `step_finished` is reported once per step,
skipped ones included (a skipped step gets no `step_started`); `sink.heartbeat()` is
called every `HEARTBEAT_S` while the job runs. Post steps that actions register
(``Post <name>``) are reported with indices after the job's last step.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Iterator, Sequence
from typing import Any

from stageline.errors import StagelineError
from stageline.plan.model import PlannedStep
from stageline.runner import workspace as workspaces
from stageline.runner.commands import CommandProcessor
from stageline.runner.contexts import (
    Evaluator,
    event_file,
    github_context,
    host_env,
    runner_context,
)
from stageline.runner.contract import (
    HEARTBEAT_S,
    Annotation,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
    StepResult,
)
from stageline.runner.logs import NullLog, StepLog
from stageline.runner.masking import Masker
from stageline.runner.ports import JobPorts
from stageline.runner.process import ProcessGroups
from stageline.runner.state import DEFAULT_JOB_TIMEOUT_MINUTES, JobState, Scope, StepOutcome
from stageline.runner.steps import StepSetupError, execute
from stageline.runs.states import Conclusion

DEFAULT_KILL_GRACE = 5.0


def _debug(request: JobRequest) -> bool:
    values = [request.secrets, request.contexts.get("vars") or {}]
    return any(
        str(v.get(name, "")).lower() == "true"
        for v in values
        for name in ("ACTIONS_STEP_DEBUG", "ACTIONS_RUNNER_DEBUG")
    )


async def run_job(
    request: JobRequest,
    sink: JobSink,
    cancel: CancelToken,
    ports: JobPorts,
    *,
    kill_grace: float = DEFAULT_KILL_GRACE,
    heartbeat_s: float = HEARTBEAT_S,
) -> JobResult:
    """Run `request.job` on this machine and report through `sink`."""
    with heartbeats(sink, heartbeat_s):
        return await _run_job(request, sink, cancel, ports, kill_grace)


async def _run_job(
    request: JobRequest, sink: JobSink, cancel: CancelToken, ports: JobPorts, kill_grace: float
) -> JobResult:
    masker = Masker(v for v in request.secrets.values() if v)
    try:
        ws = await ports.workspaces.create(request.job.key)
    except workspaces.WorkspaceError as err:
        return _setup_failure(request, sink, f"cannot prepare the workspace: {err}")
    if _runs_actions(request.job.steps):
        try:
            from stageline.runner import toolcache  # only a job that uses actions

            await asyncio.to_thread(toolcache.ensure_filled)
        except OSError as err:
            if not request.keep_workspace:
                await ports.workspaces.remove(ws)
            return _setup_failure(request, sink, f"cannot fill the tool cache: {err}")
    groups = ProcessGroups(kill_grace=kill_grace)
    state: JobState | None = None
    try:
        state = _new_state(request, sink, cancel, ports, ws, masker, groups)
        return await _run(state)
    finally:
        await groups.kill_all()
        if state is not None:
            for log in state.logs:
                log.close()
        if not request.keep_workspace:
            await ports.workspaces.remove(ws)


def _runs_actions(steps: Sequence[PlannedStep]) -> bool:
    """Whether a step runs an action that may look a toolchain up in the tool cache (not a
    built-in): only then is the cache filled, so a job of `run:` steps starts at once."""
    if not any(step.uses for step in steps):
        return False
    from stageline.runner.actions import BUILTIN

    names = (step.uses.split("@", 1)[0].strip().lower() for step in steps if step.uses)
    return any(name not in BUILTIN for name in names)


@contextlib.contextmanager
def heartbeats(sink: JobSink, interval: float = HEARTBEAT_S) -> Iterator[None]:
    """Call `sink.heartbeat()` every `interval` seconds inside the block (one timer on
    the running loop: nothing per line or per step)."""
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle

    def beat() -> None:
        nonlocal handle
        handle = loop.call_later(interval, beat)
        sink.heartbeat()

    handle = loop.call_later(interval, beat)
    try:
        yield
    finally:
        handle.cancel()


def _setup_failure(request: JobRequest, sink: JobSink, message: str) -> JobResult:
    annotation = Annotation("error", message)
    sink.annotation(annotation)
    results = []
    for step in request.job.steps:
        result = StepResult(step.index, step.display_name, Conclusion.SKIPPED, Conclusion.SKIPPED)
        sink.step_finished(result)
        results.append(result)
    return JobResult(Conclusion.FAILURE, steps=results, annotations=[annotation], reason=message)


def _new_state(
    request: JobRequest,
    sink: JobSink,
    cancel: CancelToken,
    ports: JobPorts,
    ws: workspaces.Workspace,
    masker: Masker,
    groups: ProcessGroups,
) -> JobState:
    debug = _debug(request)
    github = github_context(request, ws, "")
    github["event_path"] = event_file(github, ports.workspaces.run_root)
    runner = runner_context(ws, debug)
    base_env = {**host_env(), "CI": "true", **request.extra_env}
    workflow_env = {str(k): _text(v) for k, v in (request.contexts.get("env") or {}).items()}
    loop = asyncio.get_running_loop()
    return JobState(
        request=request,
        sink=sink,
        ports=ports,
        ws=ws,
        masker=masker,
        processor=CommandProcessor(masker, debug=debug),
        evaluator=Evaluator(functools.partial(_hash_files, ws.workspace)),
        groups=groups,
        github=github,
        runner=runner,
        base_env=base_env,
        workflow_env=workflow_env,
        cancel=cancel,
        deadline=loop.time() + DEFAULT_JOB_TIMEOUT_MINUTES * 60,
    )


def _hash_files(workspace: str, patterns: Any) -> str:
    from stageline.runner.globs import hash_files  # only for `hashFiles()`

    return hash_files(list(patterns), workspace)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def _run(state: JobState) -> JobResult:
    job = state.request.job
    results: list[StepResult] = []
    reason = _prepare_job(state)
    scope_steps: dict[str, dict[str, Any]] = {}
    for step in job.steps:
        state.observe_cancel()
        if reason is not None:
            results.append(_skip(state, step.index, step.display_name))
            continue
        results.append(await _run_step(state, step, scope_steps))
    results.extend(await _run_post_steps(state, len(job.steps), scope_steps))
    outputs = _job_outputs(state, scope_steps) if reason is None else {}
    url = _environment_url(state, scope_steps)
    if state.cancelled:
        conclusion, reason = Conclusion.CANCELLED, reason or "The job was cancelled."
    elif state.timed_out:
        conclusion = Conclusion.FAILURE
        reason = reason or "The job has exceeded its maximum execution time (timeout-minutes)."
    elif reason is not None or any(r.conclusion == Conclusion.FAILURE for r in results):
        conclusion = Conclusion.FAILURE
    else:
        conclusion = Conclusion.SUCCESS
    return JobResult(conclusion, outputs, results, list(state.annotations), reason, url)


def _prepare_job(state: JobState) -> str | None:
    """Evaluate the job's env and timeout; a fault is the job's failure reason."""
    job = state.request.job
    scope = Scope(index=-1, log=NullLog())
    contexts = state.contexts(scope, state.workflow_env, "success")
    try:
        if job.env:
            state.job_env = state.evaluator.mapping(job.env, contexts, "success")
        timeout = job.timeout_minutes
        if isinstance(timeout, str):
            timeout = state.evaluator.template(timeout, contexts, "success")
        if timeout not in (None, ""):
            minutes = float(timeout)
            if minutes <= 0:
                raise ValueError(f"timeout-minutes must be positive, got {timeout!r}")
            state.deadline = asyncio.get_running_loop().time() + minutes * 60
    except (StagelineError, ValueError, TypeError) as err:
        message = err.message if isinstance(err, StagelineError) else str(err)
        state.annotate(Annotation("error", state.masker.mask(f"job '{job.key}': {message}")))
        return message
    return None


def _skip(state: JobState, index: int, name: str) -> StepResult:
    result = StepResult(index, name, Conclusion.SKIPPED, Conclusion.SKIPPED)
    state.sink.step_finished(result)
    return result


def _step_name(state: JobState, step: PlannedStep, contexts: dict[str, Any]) -> str:
    name = step.display_name
    if step.name and "${{" in step.name:
        with contextlib.suppress(StagelineError, ValueError):
            name = state.evaluator.text(step.name, contexts, state.status)
    return state.masker.mask(name)


async def _run_step(
    state: JobState, step: PlannedStep, steps_ctx: dict[str, dict[str, Any]]
) -> StepResult:
    job = state.request.job
    probe = Scope(index=step.index, log=NullLog(), steps=steps_ctx)
    contexts = state.contexts(probe, state.env_context(), state.status)
    name = _step_name(state, step, contexts)
    try:
        run = state.evaluator.condition(step.if_, contexts, state.status)
    except (StagelineError, ValueError) as err:
        message = err.message if isinstance(err, StagelineError) else str(err)
        log = _open_log(state, step.index, name)
        scope = Scope(index=step.index, log=log, steps=steps_ctx)
        state.error(scope, f"step '{name}': the condition '{step.if_}' failed: {message}")
        state.failed = True
        return _finish(state, step, name, StepOutcome.failed(), False, log, time.time())
    if not run:
        if step.id:
            steps_ctx[step.id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
        return _skip(state, step.index, name)
    log = _open_log(state, step.index, name)
    started = time.time()
    scope = Scope(
        index=step.index,
        log=log,
        steps=steps_ctx,
        default_shell=job.defaults_shell,
        default_working_directory=job.defaults_working_directory,
    )
    outcome, continue_on_error = await execute(state, scope, step)
    if step.id:
        conclusion = _conclusion(outcome.outcome, continue_on_error)
        steps_ctx[step.id] = {
            "outputs": dict(outcome.outputs),
            "outcome": outcome.outcome.value,
            "conclusion": conclusion.value,
        }
    return _finish(state, step, name, outcome, continue_on_error, log, started)


def _open_log(state: JobState, index: int, name: str) -> StepLog:
    file = state.ports.logs.open(state.request.job.key, index)
    log = StepLog(file, index, state.sink, state.masker)
    state.logs.append(log)
    state.sink.step_started(index, name, log.path)
    return log


def _conclusion(outcome: Conclusion, continue_on_error: bool) -> Conclusion:
    if outcome == Conclusion.FAILURE and continue_on_error:
        return Conclusion.SUCCESS
    return outcome


def _finish(
    state: JobState,
    step: PlannedStep,
    name: str,
    outcome: StepOutcome,
    continue_on_error: bool,
    log: StepLog,
    started: float,
) -> StepResult:
    conclusion = _conclusion(outcome.outcome, continue_on_error)
    if conclusion == Conclusion.FAILURE:
        state.failed = True
    for each in state.logs:  # only the finished step's log is open at this point
        each.close()
    state.logs.clear()
    result = StepResult(
        index=step.index,
        name=name,
        outcome=outcome.outcome,
        conclusion=conclusion,
        outputs=dict(outcome.outputs),
        exit_code=outcome.exit_code,
        started_at=started,
        finished_at=time.time(),
        log_path=log.path,
        log_size=log.size,
        summary=outcome.summary,
    )
    state.sink.step_finished(result)
    return result


async def _run_post_steps(
    state: JobState, first_index: int, steps_ctx: dict[str, dict[str, Any]]
) -> list[StepResult]:
    results: list[StepResult] = []
    for offset, post in enumerate(reversed(state.post_steps)):
        state.observe_cancel()
        index = first_index + offset
        probe = Scope(index=index, log=NullLog(), steps=steps_ctx)
        contexts = state.contexts(probe, state.env_context(), state.status)
        try:
            run = state.evaluator.condition(post.condition, contexts, state.status)
        except (StagelineError, ValueError):
            run = False
        if not run:
            results.append(_skip(state, index, post.name))
            continue
        log = _open_log(state, index, post.name)
        started = time.time()
        scope = Scope(index=index, log=log, steps=steps_ctx)
        try:
            outcome = await post.run(scope)
        except (StagelineError, StepSetupError, OSError, ValueError) as err:
            state.error(scope, f"{post.name}: {err}")
            outcome = StepOutcome.failed()
        pseudo = PlannedStep(
            index, None, post.name, None, None, None, None, {}, {}, None, False, None
        )
        results.append(_finish(state, pseudo, post.name, outcome, False, log, started))
    return results


def _environment_url(state: JobState, steps_ctx: dict[str, dict[str, Any]]) -> str | None:
    """The job's `environment.url`, evaluated over the steps context after its steps
    (GitHub evaluates it then, so a deploy step's output can name it); masked."""
    environment = state.request.job.environment
    if environment is None or not environment.url:
        return None
    probe = Scope(index=-1, log=NullLog(), steps=steps_ctx)
    contexts = state.contexts(probe, state.env_context(), state.status)
    try:
        value = state.evaluator.text(environment.url, contexts, state.status)
    except (StagelineError, ValueError) as err:
        message = err.message if isinstance(err, StagelineError) else str(err)
        state.annotate(Annotation("warning", f"environment url: {message}"))
        return None
    return state.masker.mask(value) or None


def _job_outputs(state: JobState, steps_ctx: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The job's `outputs:`, evaluated over the steps context; GitHub drops any output that
    contains a secret (with a warning) rather than passing it on."""
    outputs: dict[str, str] = {}
    probe = Scope(index=-1, log=NullLog(), steps=steps_ctx)
    contexts = state.contexts(probe, state.env_context(), state.status)
    for key, template in state.request.job.outputs.items():
        try:
            value = state.evaluator.text(template, contexts, state.status)
        except (StagelineError, ValueError) as err:
            message = err.message if isinstance(err, StagelineError) else str(err)
            state.annotate(Annotation("error", f"job output '{key}': {message}"))
            continue
        if state.masker.contains_secret(value):
            state.annotate(
                Annotation("warning", f"Skip output '{key}' since it may contain secret.")
            )
            continue
        outputs[key] = value
    return outputs
