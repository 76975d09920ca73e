"""Actions defined by an ``action.yml`` on disk: composite and node actions.

* ``runs.using: composite``: the steps run in order inside the calling step (same log,
  same step index), with their own ``steps`` context, the ``inputs`` context (``with:``
  over the declared defaults), the calling step's ``env``, GITHUB_ACTION_PATH set, and
  ``outputs.<name>.value`` evaluated at the end. A failing inner step fails the action
  unless it has ``continue-on-error``.
* ``runs.using: node12|node16|node20|node24``: ``node <main>`` in the workspace with an
  ``INPUT_<NAME>`` variable per input (name upper-cased, spaces as ``_``). ``pre`` runs
  right before ``main`` (not at the start of the job as on GitHub) when ``pre-if`` allows;
  ``post`` runs as a post step with ``STATE_<name>`` variables from GITHUB_STATE, when
  ``post-if`` (default ``always()``) allows.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Any

from stageline.errors import StagelineError
from stageline.plan.model import PlannedStep
from stageline.runner.actions.call import ActionCall
from stageline.runner.state import PostStep, Scope, StepOutcome
from stageline.runs.states import Conclusion

NODE_RUNTIMES = frozenset({"node12", "node16", "node20", "node24"})
SUPPORTED = NODE_RUNTIMES | {"composite"}
CONTAINER_HINT = (
    "it is a container action, and container actions need a Docker engine, which "
    "Stageline does not use; run the tool in a `run:` step instead"
)


class ActionFileError(Exception):
    pass


def action_file(directory: str) -> str | None:
    for name in ("action.yml", "action.yaml"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def load(directory: str) -> dict[str, Any]:
    """The parsed action.yml of `directory` (raises ActionFileError)."""
    path = action_file(directory)
    if path is None:
        raise ActionFileError(f"no action.yml or action.yaml in '{directory}'")
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        with open(path, encoding="utf-8") as f:
            data = YAML(typ="safe", pure=True).load(f)
    except (OSError, YAMLError) as err:
        raise ActionFileError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
        raise ActionFileError(f"{path}: 'runs' is missing")
    return data


def check_directory(directory: str, uses: str) -> str | None:
    """Why the action in `directory` cannot run here, or None."""
    try:
        data = load(directory)
    except ActionFileError as err:
        return f"action '{uses}': {err}"
    runs = data["runs"]
    using = str(runs.get("using", "")).lower()
    if using == "docker":
        return f"action '{uses}': {CONTAINER_HINT}"
    if using not in SUPPORTED:
        return (
            f"action '{uses}': '{using}' actions are not supported (supported: composite "
            "and node actions)"
        )
    if using in NODE_RUNTIMES:
        main = runs.get("main")
        if not main or not os.path.isfile(os.path.join(directory, str(main))):
            return f"action '{uses}': its main script '{main}' does not exist"
    return None


def nested_uses(directory: str) -> list[str]:
    try:
        data = load(directory)
    except ActionFileError:
        return []
    steps = data["runs"].get("steps") or []
    return [str(s["uses"]) for s in steps if isinstance(s, dict) and s.get("uses")]


def _planned(index: int, raw: dict[str, Any]) -> PlannedStep:
    return PlannedStep(
        index=index,
        id=raw.get("id"),
        name=raw.get("name"),
        if_=None if raw.get("if") is None else str(raw["if"]),
        run=raw.get("run"),
        shell=raw.get("shell"),
        uses=raw.get("uses"),
        with_=dict(raw.get("with") or {}),
        env=raw.get("env") or {},
        working_directory=raw.get("working-directory"),
        continue_on_error=raw.get("continue-on-error", False),
        timeout_minutes=raw.get("timeout-minutes"),
    )


def _inputs(call: ActionCall, data: dict[str, Any], status: str) -> dict[str, str]:
    declared = data.get("inputs") or {}
    values: dict[str, str] = {}
    for name, spec in declared.items():
        default = spec.get("default") if isinstance(spec, dict) else None
        if default is not None:
            values[str(name)] = call.state.evaluator.text(default, call.contexts, status)
    known = {str(n).lower(): str(n) for n in declared}
    unexpected = []
    for key, value in call.inputs.items():
        if key.lower() in known:
            values[known[key.lower()]] = value
        else:
            values[key] = value
            unexpected.append(key)
    if unexpected and declared:
        call.state.warning(
            call.scope,
            f"Unexpected input(s) '{', '.join(unexpected)}', valid inputs are "
            f"[{', '.join(repr(n) for n in declared)}]",
        )
    return values


async def run(call: ActionCall, directory: str) -> StepOutcome:
    from stageline.runner.steps import step_status

    try:
        data = load(directory)
    except ActionFileError as err:
        call.state.error(call.scope, str(err))
        return StepOutcome.failed()
    using = str(data["runs"].get("using", "")).lower()
    status = step_status(call.state, call.scope)
    inputs = _inputs(call, data, status)
    scope = dataclasses.replace(
        call.scope,
        action_path=directory,
        action_repository=call.repository,
        action_ref=call.ref,
        steps={},
        inputs=inputs,
        failed=False,
        env={**call.scope.env, **call.own_env},
        default_shell=None,  # `defaults.run` of the workflow does not reach into actions
        default_working_directory=None,
    )
    if using == "composite":
        return await _composite(call, data, scope)
    if using in NODE_RUNTIMES:
        return await _node(call, data, scope, inputs)
    call.state.error(call.scope, f"action '{call.step.uses}': '{using}' actions are not supported")
    return StepOutcome.failed()


async def _composite(call: ActionCall, data: dict[str, Any], scope: Scope) -> StepOutcome:
    from stageline.runner.steps import execute, step_status

    state = call.state
    raw_steps = data["runs"].get("steps") or []
    for position, raw in enumerate(raw_steps):
        step = _planned(scope.index, raw if isinstance(raw, dict) else {})
        state.observe_cancel()
        status = step_status(state, scope)
        contexts = state.contexts(scope, state.env_context(scope.env), status)
        try:
            run_it = state.evaluator.condition(step.if_, contexts, status)
        except (StagelineError, ValueError) as err:
            state.error(scope, f"composite step {position + 1}: {err}")
            scope.failed = True
            continue
        if not run_it:
            if step.id:
                scope.steps[step.id] = {
                    "outputs": {},
                    "outcome": "skipped",
                    "conclusion": "skipped",
                }
            continue
        outcome, continue_on_error = await execute(state, scope, step)
        failed = outcome.outcome == Conclusion.FAILURE and not continue_on_error
        if failed:
            scope.failed = True
        if step.id:
            scope.steps[step.id] = {
                "outputs": dict(outcome.outputs),
                "outcome": outcome.outcome.value,
                "conclusion": "success"
                if outcome.outcome == Conclusion.FAILURE and continue_on_error
                else outcome.outcome.value,
            }
    outputs: dict[str, str] = {}
    status = step_status(state, scope)
    contexts = state.contexts(scope, state.env_context(scope.env), status)
    for name, spec in (data.get("outputs") or {}).items():
        value = spec.get("value") if isinstance(spec, dict) else None
        if value is None:
            continue
        try:
            outputs[str(name)] = state.evaluator.text(value, contexts, status)
        except (StagelineError, ValueError) as err:
            state.error(scope, f"output '{name}' of the action: {err}")
            scope.failed = True
    if scope.failed:
        return StepOutcome.failed(outputs=outputs)
    if state.cancelled:
        return StepOutcome(Conclusion.CANCELLED, outputs=outputs)
    return StepOutcome(Conclusion.SUCCESS, outputs=outputs)


def _input_env(inputs: dict[str, str]) -> dict[str, str]:
    return {f"INPUT_{name.replace(' ', '_').upper()}": value for name, value in inputs.items()}


async def _node(
    call: ActionCall, data: dict[str, Any], scope: Scope, inputs: dict[str, str]
) -> StepOutcome:
    from stageline.runner.steps import run_command, step_status

    state = call.state
    runs = data["runs"]
    env_path = state.process_env(scope, scope.env, {}, call.action)["PATH"]
    node = shutil.which("node", path=env_path)
    if node is None:
        state.error(
            scope,
            f"action '{call.step.uses}' needs `node`, which was not found on PATH",
            title="node not found",
        )
        return StepOutcome.failed()
    extra = _input_env(inputs)
    workspace = state.ws.workspace

    async def script(
        which: str, env: dict[str, str], target: Scope, deadline: float
    ) -> StepOutcome:
        path = os.path.join(scope.action_path, str(runs[which]))
        return await run_command(
            state, target, [node, path], workspace, scope.env, env, deadline, call.action
        )

    status = step_status(state, scope)
    if runs.get("pre"):
        contexts = state.contexts(scope, state.env_context(scope.env), status)
        if state.evaluator.condition(str(runs.get("pre-if", "always()")), contexts, status):
            pre = await script("pre", extra, scope, call.deadline)
            if pre.outcome != Conclusion.SUCCESS:
                return pre
    outcome = await script("main", extra, scope, call.deadline)
    if runs.get("post"):
        saved = {f"STATE_{k}": v for k, v in outcome.state.items()}

        async def post(post_scope: Scope) -> StepOutcome:
            target = dataclasses.replace(
                post_scope,
                action_path=scope.action_path,
                action_repository=scope.action_repository,
                action_ref=scope.action_ref,
                env=scope.env,
            )
            return await script("post", {**extra, **saved}, target, state.deadline)

        condition = str(runs.get("post-if", "always()"))
        state.post_steps.append(PostStep(f"Post {call.step.display_name}", condition, post))
    return outcome
