"""Running one step: evaluate its inputs, run its script or action, apply what it reported.

`execute` is used for the job's own steps and for the steps of composite actions (each
with its own `Scope`). A fault of the step itself (a bad expression, a missing shell, a
missing working directory, a command that is not found or not executable, malformed file
commands) is reported as an annotated failure of that step, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping
from typing import Any

from stageline.errors import StagelineError
from stageline.plan.model import PlannedStep
from stageline.runner import shells
from stageline.runner.commands import CommandEffects
from stageline.runner.contexts import to_text
from stageline.runner.files import FileCommandError, prepend_path
from stageline.runner.process import run_process
from stageline.runner.state import JobState, Scope, StepOutcome
from stageline.runs.states import Conclusion

#: Extra words for exit codes that mean "the command could not run".
EXIT_HINTS = {
    126: "a command was found but could not be executed: check that the file has its "
    "run bit (chmod +x, or `git update-index --chmod=+x FILE`) and a valid #! line",
    127: "a command was not found: check its name and that it is installed and on PATH",
}


class StepSetupError(Exception):
    """The step cannot start (bad expression, directory, shell); message for the user."""


def step_status(state: JobState, scope: Scope) -> str:
    status = state.status
    if status == "success" and scope.failed:
        return "failure"
    return status


def _minutes(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise StepSetupError(f"{what} must be a number of minutes, got {value!r}") from None
    if minutes <= 0:
        raise StepSetupError(f"{what} must be positive, got {value!r}")
    return minutes


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


async def execute(state: JobState, scope: Scope, step: PlannedStep) -> tuple[StepOutcome, bool]:
    """Run `step` (its `if` already passed); return its outcome and continue-on-error."""
    status = step_status(state, scope)
    ev = state.evaluator
    continue_on_error = False
    try:
        contexts = state.contexts(scope, state.env_context(scope.env), status)
        own_env = {**scope.env, **(ev.mapping(step.env, contexts, status) if step.env else {})}
        contexts["env"] = state.env_context(own_env)
        coe = step.continue_on_error
        continue_on_error = _flag(
            ev.template(coe, contexts, status) if isinstance(coe, str) else coe
        )
        timeout = step.timeout_minutes
        if isinstance(timeout, str):
            timeout = ev.template(timeout, contexts, status)
        minutes = _minutes(timeout, "timeout-minutes")
    except (StagelineError, StepSetupError, ValueError) as err:
        state.error(scope, f"step '{step.display_name}': {_message(err)}")
        return StepOutcome.failed(), continue_on_error
    loop = asyncio.get_running_loop()
    deadline = state.deadline
    if minutes is not None:
        deadline = min(deadline, loop.time() + minutes * 60)
    action = state.action_name(step.id, step.uses)
    try:
        if step.uses:
            from stageline.runner.actions import run_uses

            outcome = await run_uses(state, scope, step, contexts, own_env, deadline, action)
        else:
            outcome = await run_script(state, scope, step, contexts, own_env, deadline, action)
    except (StagelineError, StepSetupError, ValueError) as err:
        state.error(scope, f"step '{step.display_name}': {_message(err)}")
        return StepOutcome.failed(), continue_on_error
    except OSError as err:  # e.g. the job removed or locked its own RUNNER_TEMP
        state.error(scope, f"step '{step.display_name}' could not run: {err}")
        return StepOutcome.failed(), continue_on_error
    return outcome, continue_on_error


def _message(err: Exception) -> str:
    return err.message if isinstance(err, StagelineError) else str(err)


def working_directory(state: JobState, scope: Scope, value: str | None) -> str:
    path = os.path.join(state.ws.workspace, value) if value else state.ws.workspace
    if not os.path.isdir(path):
        raise StepSetupError(f"working-directory '{value}' does not exist in the workspace")
    return path


async def run_script(
    state: JobState,
    scope: Scope,
    step: PlannedStep,
    contexts: Mapping[str, Any],
    own_env: Mapping[str, str],
    deadline: float,
    action: str,
) -> StepOutcome:
    status = step_status(state, scope)
    script = state.evaluator.text(step.run or "", contexts, status)
    wd = step.working_directory or scope.default_working_directory
    cwd = working_directory(
        state, scope, state.evaluator.text(wd, contexts, status) if wd else None
    )
    env = state.process_env(scope, own_env, {}, action)
    try:
        prepared = shells.prepare(
            step.shell or scope.default_shell, script, state.ws.temp, env["PATH"]
        )
    except shells.ShellError as err:
        state.error(scope, str(err), title="Shell not found")
        return StepOutcome.failed()
    scope.log.write(f"##[command]{' '.join(prepared.argv)}")
    try:
        return await run_command(state, scope, prepared.argv, cwd, own_env, {}, deadline, action)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(prepared.script_path)


async def run_command(
    state: JobState,
    scope: Scope,
    argv: list[str],
    cwd: str,
    own_env: Mapping[str, str],
    extra_env: Mapping[str, str],
    deadline: float,
    action: str,
) -> StepOutcome:
    """Run a process as a step: file commands, workflow commands, timeouts, cancel."""
    files = state.step_files()
    env = state.process_env(scope, own_env, {**extra_env, **files.env()}, action)
    state.processor.allow_unsecure = env.get("ACTIONS_ALLOW_UNSECURE_COMMANDS") == "true"
    effects = CommandEffects()

    continued = False  # the last piece was of a long line that goes on

    def on_line(line: str, more: bool) -> None:
        nonlocal continued
        # The rest of a long line is output, never a workflow command.
        shown = line if continued else state.processor.feed(line, effects, scope.index)
        continued = more
        if shown is not None:
            scope.log.write(shown, more=more)
        while effects.annotations:  # reported as they come, not when the step ends
            state.annotate(effects.annotations.pop(0))

    if state.ports.launcher is not None:
        argv = state.ports.launcher.command(argv, env)
    result = await run_process(
        argv,
        cwd=cwd,
        env=env,
        on_line=on_line,
        on_late_line=scope.log.late,
        groups=state.groups,
        cancel=state.cancel,
        deadline=deadline,
    )
    try:
        file_effects = files.collect()
    except FileCommandError as err:
        state.error(scope, str(err))
        return StepOutcome.failed(exit_code=result.exit_code)
    for message in file_effects.warnings:
        state.warning(scope, message)
    outputs = {**effects.outputs, **file_effects.outputs}
    state.added_env.update(effects.env)
    state.added_env.update(file_effects.env)
    prepend_path(state.path_additions, effects.path + file_effects.path)
    outcome = StepOutcome(
        Conclusion.SUCCESS,
        outputs=outputs,
        exit_code=result.exit_code,
        summary=state.masker.mask(file_effects.summary),
        state={**effects.state, **file_effects.state},
    )
    loop = asyncio.get_running_loop()
    if result.error is not None:
        state.error(scope, f"cannot start the process: {result.error}")
        outcome.outcome = Conclusion.FAILURE
    elif result.cancelled:
        scope.log.write("##[error]The operation was canceled.")
        state.stop()
        outcome.outcome = Conclusion.CANCELLED
    elif result.timed_out:
        if loop.time() >= state.deadline:
            state.stop(timed_out=True)
            state.error(scope, "The job has exceeded its maximum execution time (timeout-minutes).")
        else:
            state.error(scope, "The step has timed out (timeout-minutes).")
        outcome.outcome = Conclusion.FAILURE
    elif result.exit_code:
        message = f"Process completed with exit code {result.exit_code}."
        if result.exit_code in EXIT_HINTS:
            message += f" ({EXIT_HINTS[result.exit_code]})"
        state.error(scope, message)
        outcome.outcome = Conclusion.FAILURE
    for message in effects.errors:
        state.error(scope, message)
        outcome.outcome = (
            outcome.outcome if outcome.outcome != Conclusion.SUCCESS else Conclusion.FAILURE
        )
    return outcome


def with_inputs(
    state: JobState, step: PlannedStep, contexts: Mapping[str, Any], status: str
) -> dict[str, str]:
    """The step's `with:` inputs, evaluated."""
    return state.evaluator.mapping(step.with_, contexts, status)


__all__ = ["execute", "run_command", "run_script", "to_text", "with_inputs"]
