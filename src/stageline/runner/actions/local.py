"""Actions defined by an ``action.yml`` on disk: composite and node actions.

* ``runs.using: composite``: the steps run in order inside the calling step (same log,
  same step index), with their own ``steps`` context, the ``inputs`` context (``with:``
  over the declared defaults), the calling step's ``env``, GITHUB_ACTION_PATH set, and
  ``outputs.<name>.value`` evaluated at the end. A failing inner step fails the action
  unless it has ``continue-on-error``.
* ``runs.using: node12|node16|node20|node24``: ``node <main>`` in the workspace with an
  ``INPUT_<NAME>`` variable per input (name upper-cased, spaces as ``_``). ``pre`` runs at
  the start of the job, as on GitHub (`pre_steps`: ``Pre <step name>`` steps in step
  order, each when ``pre-if``, default ``always()``, allows, whatever the step's own
  ``if:``); only an action GitHub could not run so early (a ``./path`` one, which the
  checkout brings, or one nested in a composite) runs its ``pre`` right before ``main``.
  ``post`` runs as a post step, registered by ``pre`` if it ran, else by ``main``, when
  ``post-if`` (default ``always()``) allows. What ``pre`` and ``main`` save in
  GITHUB_STATE reaches the later ones as ``STATE_<name>``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from stageline.errors import StagelineError
from stageline.plan.model import PlannedStep
from stageline.runner.actions.call import ActionCall
from stageline.runner.state import JobState, PostStep, PreRun, Scope, StepOutcome
from stageline.runs.states import Conclusion

if TYPE_CHECKING:
    from stageline.runner.actions import Resolved

Script = Callable[[str, dict[str, str], Scope, float], Awaitable[StepOutcome]]

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
    inputs = _inputs(call, data, step_status(call.state, call.scope))
    scope = _action_scope(call, directory, inputs)
    if using == "composite":
        return await _composite(call, data, scope)
    if using in NODE_RUNTIMES:
        return await _node(call, data, scope, inputs)
    call.state.error(call.scope, f"action '{call.step.uses}': '{using}' actions are not supported")
    return StepOutcome.failed()


def _action_scope(call: ActionCall, directory: str, inputs: dict[str, str]) -> Scope:
    return dataclasses.replace(
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


def _state_env(saved: dict[str, str]) -> dict[str, str]:
    return {f"STATE_{name}": value for name, value in saved.items()}


def _script(call: ActionCall, scope: Scope, runs: dict[str, Any]) -> Script | None:
    """What runs one of the action's scripts (`pre`, `main`, `post`) with the host's
    node; None, with the step's error reported, when there is no node."""
    from stageline.runner.steps import run_command

    state = call.state
    env_path = state.process_env(scope, scope.env, {}, call.action)["PATH"]
    node = shutil.which("node", path=env_path)
    if node is None:
        state.error(
            scope,
            f"action '{call.step.uses}' needs `node`, which was not found on PATH",
            title="node not found",
        )
        return None

    async def script(
        which: str, env: dict[str, str], target: Scope, deadline: float
    ) -> StepOutcome:
        path = os.path.join(scope.action_path, str(runs[which]))
        return await run_command(
            state, target, [node, path], state.ws.workspace, scope.env, env, deadline, call.action
        )

    return script


def _register_post(
    call: ActionCall,
    scope: Scope,
    runs: dict[str, Any],
    extra: dict[str, str],
    saved: dict[str, str],
    script: Script,
) -> None:
    """Queue the action's `post`; it sees the state `saved` holds when it runs."""

    async def post(post_scope: Scope) -> StepOutcome:
        target = dataclasses.replace(
            post_scope,
            action_path=scope.action_path,
            action_repository=scope.action_repository,
            action_ref=scope.action_ref,
            env=scope.env,
        )
        return await script("post", {**extra, **_state_env(saved)}, target, call.state.deadline)

    condition = str(runs.get("post-if", "always()"))
    call.state.post_steps.append(PostStep(f"Post {call.step.display_name}", condition, post))


async def _node(
    call: ActionCall, data: dict[str, Any], scope: Scope, inputs: dict[str, str]
) -> StepOutcome:
    from stageline.runner.steps import step_status

    state = call.state
    runs = data["runs"]
    script = _script(call, scope, runs)
    if script is None:
        return StepOutcome.failed()
    extra = _input_env(inputs)
    record = state.pre_runs.get(call.step.index)
    at_start = record is not None and record.step is call.step
    saved = record.saved if record is not None and at_start else {}
    if runs.get("pre") and not at_start:  # an action that could not run it at job start
        status = step_status(state, scope)
        contexts = state.contexts(scope, state.env_context(scope.env), status)
        if state.evaluator.condition(str(runs.get("pre-if", "always()")), contexts, status):
            pre = await script("pre", extra, scope, call.deadline)
            saved.update(pre.state)
            if pre.outcome != Conclusion.SUCCESS:
                return pre
    outcome = await script("main", {**extra, **_state_env(saved)}, scope, call.deadline)
    saved.update(outcome.state)
    if runs.get("post") and not (record is not None and at_start and record.ran):
        _register_post(call, scope, runs, extra, saved, script)
    return outcome


def pre_steps(state: JobState, steps: Sequence[PlannedStep]) -> list[PostStep]:
    """The job-start `pre` of each step's node action, in step order, named as on GitHub
    (``Pre Run owner/repo@ref``); each step's condition is the action's `pre-if`. Remote
    actions were fetched before the run; a step whose action cannot be found gets none
    (its main step reports why)."""
    from stageline.runner.actions import resolve

    hooks: list[PostStep] = []
    for step in steps:
        uses = (step.uses or "").strip()
        if not uses or uses == "." or uses.startswith(("./", "../", "$/")):
            continue  # a local action comes with the checkout, after the job's start
        found = resolve(
            uses, state.ws.workspace, state.ports.workspaces.action_dirs, prefer_cache=True
        )
        if isinstance(found, str) or found.directory is None:
            continue
        try:
            runs = load(found.directory)["runs"]
        except ActionFileError:
            continue
        if str(runs.get("using", "")).lower() not in NODE_RUNTIMES or not runs.get("pre"):
            continue
        record = PreRun(step)
        state.pre_runs[step.index] = record
        condition = str(runs.get("pre-if", "always()"))
        run = functools.partial(_pre, state, record, found)
        hooks.append(PostStep(f"Pre {step.display_name}", condition, run))
    return hooks


async def _pre(state: JobState, record: PreRun, found: Resolved, scope: Scope) -> StepOutcome:
    """Run `record.step`'s pre at job start: `with:` and the step's `env` evaluated now,
    with no step having run."""
    assert found.directory is not None
    step, ev, status = record.step, state.evaluator, state.status
    contexts = state.contexts(scope, state.env_context(), status)
    own_env = {**scope.env, **(ev.mapping(step.env, contexts, status) if step.env else {})}
    contexts["env"] = state.env_context(own_env)
    call = ActionCall(
        state=state,
        scope=scope,
        step=step,
        inputs=ev.mapping(step.with_, contexts, status),
        contexts=contexts,
        own_env=own_env,
        deadline=state.deadline,
        action=step.id
        or "__" + "".join(c if c.isalnum() else "_" for c in found.uses.split("@")[0]),
        ref=found.ref,
        repository=found.repository,
    )
    try:
        data = load(found.directory)
    except ActionFileError as err:
        state.error(scope, str(err))
        return StepOutcome.failed()
    inputs = _inputs(call, data, status)
    action_scope = _action_scope(call, found.directory, inputs)
    script = _script(call, action_scope, data["runs"])
    if script is None:
        return StepOutcome.failed()
    record.ran = True
    extra = _input_env(inputs)
    outcome = await script("pre", extra, action_scope, state.deadline)
    record.saved.update(outcome.state)
    if data["runs"].get("post"):
        _register_post(call, action_scope, data["runs"], extra, record.saved, script)
    return outcome
