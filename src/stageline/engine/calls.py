"""What a reusable-workflow call evaluates at run time (ADR 0010), for `RunState`.

A call's jobs are ordinary planned jobs (`plan.calls`); what belongs to the call
itself is evaluated here, once per call (per leg of a matrix of calls):

* when the first of its jobs is ready (the caller's needs are then done): the
  caller's `if:` with the caller's `needs` and status, then `with:` typed and
  defaulted by the callee's declaration (`workflow.inputs`), `secrets:` (`inherit` or
  the mapping) and the callee's workflow `env`, all in the caller's scope: the run's,
  or the enclosing call's for a nested one;
* the caller's `concurrency` group, which each called job without its own joins (the
  jobs of one run never wait for each other in it);
* when the last is done: the callee's `on.workflow_call.outputs`, from the `jobs`
  context of its jobs, which becomes `needs.<caller>.outputs` for the caller's
  dependents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageline.engine.concurrency import enabled, group_name
from stageline.engine.context import evaluate_if, needs_context
from stageline.errors import StagelineError
from stageline.plan.model import PlannedCall
from stageline.runs.rules import Readying, decide_ready
from stageline.runs.states import Conclusion

C = Conclusion


class CallScope:
    """A call as its jobs see it: `inputs`, `secrets` and `env`, or why none runs
    (`end`: skipped by the caller's `if:`, cancelled, failed to evaluate)."""

    __slots__ = ("ancestry", "cancel_in_progress", "end", "env", "group", "inputs", "secrets")

    def __init__(self) -> None:
        self.end: tuple[Conclusion, str | None] | None = None
        self.ancestry: tuple[bool, bool] = (True, False)
        self.inputs: dict[str, Any] = {}
        self.secrets: dict[str, str] = {}
        self.env: dict[str, Any] = {}
        #: The caller's `concurrency` group (evaluated in the caller's scope), if any.
        self.group: str | None = None
        self.cancel_in_progress = False


def local_needs(names: list[str], prefix: str) -> list[str]:
    """The needs of a job inside a call (those within its prefix)."""
    return [n for n in names if n.startswith(prefix)]


def scoped_needs(
    names: list[str],
    prefix: str,
    results: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The `needs` context of a job inside a call: its needs named as in the callee."""
    full = needs_context(names, results, outputs)
    return {name[len(prefix) :]: value for name, value in full.items()}


def open_call(
    call: PlannedCall,
    outer: Mapping[str, Any],
    secrets: Mapping[str, str],
    extra_env: Mapping[str, str],
    needs: list[tuple[Conclusion, tuple[bool, bool]]],
    cancelled: str | None,
) -> CallScope:
    """The scope of `call`, its caller's needs done. `outer` are the contexts of the
    caller's scope with the caller's `needs` (named as there); `secrets` are the
    caller's."""
    from stageline.workflow.inputs import typed_values  # only a run that calls one

    scope = CallScope()
    contexts = {**outer, "matrix": dict(call.matrix or {})}
    contexts["strategy"] = {"job-index": call.strategy_index, "job-total": call.strategy_total}
    decided = decide_ready(
        Readying(
            needs=needs,
            run_cancelled=cancelled,
            evaluate_if=lambda status: evaluate_if(call.if_, contexts, status),
        )
    )
    scope.ancestry = decided.ancestry
    if decided.end is not None:
        scope.end = decided.end
        return scope
    try:
        given = _mapping(call.with_, {**contexts, "secrets": dict(secrets)}, "with")
        scope.inputs = typed_values(call.inputs, given, call.uses)
        _required(call, given)
        scope.secrets = _secrets(call, contexts, secrets)
        own = {**contexts, "inputs": scope.inputs, "secrets": scope.secrets, "env": {}}
        env = dict(extra_env)
        env.update(_mapping(call.env, {**own, "env": dict(env)}, "env"))
        scope.env = env
        if call.concurrency_group:
            scope.group = group_name(call.concurrency_group, contexts)
            scope.cancel_in_progress = enabled(call.concurrency_cancel_in_progress, contexts)
    except StagelineError as err:
        scope.end = (C.FAILURE, f"calling {call.uses}: {err.message}")
    return scope


def call_outputs(
    call: PlannedCall,
    scope: CallScope,
    contexts: Mapping[str, Any],
    results: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    """The callee's `on.workflow_call.outputs`, its jobs done. An output that cannot
    be evaluated is empty, as an unset job output is."""
    from stageline.expressions import evaluate_template, to_string

    jobs = {
        name: {
            "result": results.get(call.prefix + name, "skipped"),
            "outputs": dict(outputs.get(call.prefix + name, {})),
        }
        for name in call.jobs
    }
    scope_contexts = {**contexts, "inputs": scope.inputs, "jobs": jobs}
    found: dict[str, str] = {}
    for name, config in call.outputs.items():
        value = config.get("value") if isinstance(config, Mapping) else config
        try:
            result = evaluate_template(str(value or ""), scope_contexts)
        except StagelineError:
            result = ""
        found[name] = str(to_string(result))
    return found


def secrets_of(
    call: PlannedCall, secrets: Mapping[str, str], contexts: Mapping[str, Any]
) -> dict[str, str]:
    """The secrets a called job gets, from the run's `secrets` through every call of its
    chain (for a job run again outside its run: a rollback's redeploy)."""
    given = dict(secrets)
    for frame in reversed(call.chain()):
        given = _secrets(frame, contexts, given)
    return given


def _required(call: PlannedCall, given: Mapping[str, Any]) -> None:
    """A `with:` that is one expression is checked only now that its keys exist."""
    from stageline.errors import RunError

    for name, config in call.inputs.items():
        if isinstance(config, Mapping) and config.get("required") is True and name not in given:
            raise RunError(f"required input '{name}' is not given")


def _secrets(
    call: PlannedCall, contexts: Mapping[str, Any], secrets: Mapping[str, str]
) -> dict[str, str]:
    """`secrets: inherit` passes the caller's; a mapping is evaluated in its scope."""
    if call.secrets == "inherit":
        return dict(secrets)
    if not call.secrets:
        return {}
    values = _mapping(call.secrets, {**contexts, "secrets": dict(secrets)}, "secrets")
    return {k: _text(v) for k, v in values.items()}


def _mapping(value: Any, contexts: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A `with:`/`secrets:`/`env:` mapping (or one expression giving one) evaluated;
    each value keeps its type when it is one whole expression."""
    from stageline.errors import RunError
    from stageline.expressions import evaluate_template
    from stageline.expressions.mappings import evaluate_keys

    def evaluate(item: Any) -> Any:
        return evaluate_template(item, dict(contexts)) if isinstance(item, str) else item

    if isinstance(value, str):
        result = evaluate(value)
        if not isinstance(result, Mapping):
            raise RunError(f"{what}: expected a mapping, got {_text(result)!r}")
        return dict(result)
    if not value:
        return {}
    return dict(evaluate_keys(value, evaluate, evaluate))


def _text(value: Any) -> str:
    from stageline.expressions import to_string

    return str(to_string(value))
