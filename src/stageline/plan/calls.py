"""A job that calls a reusable workflow, inlined into the plan (ADR 0010).

Each job of the callee becomes an ordinary `PlannedJob` with `key = job_id =
"<caller> / <job>"` and `name = "<caller name> / <job name>"`, as GitHub names them,
so every view shows them without knowing about calls. Its `needs` are the callee's,
prefixed; a root of the callee waits for what the caller waits for. The job carries
its `PlannedCall` (the caller's `with:`, `secrets:`, `if:`, the callee's declared
inputs, outputs and `env`), which the engine evaluates when the call's jobs are ready
and done (`engine.calls`). A matrix on the calling job gives one call per leg, keyed
like a leg (``deploy.2 / job``) and named ``deploy (a, b) / job``. A nested call is
inlined the same way inside its caller's prefix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from stageline.errors import RunError
from stageline.plan.model import PlannedCall, PlannedJob
from stageline.workflow import matrix as matrices
from stageline.workflow.model import Job, Workflow


def inline_call(
    job: Job,
    callees: Mapping[str, Workflow],
    contexts: Mapping[str, Any],
    matrix_filter: Mapping[str, list[str]] | None,
    parent: PlannedCall | None = None,
) -> list[PlannedJob]:
    """The planned jobs of `job`'s callee (every leg of a matrix of calls)."""
    uses = job.uses or ""
    callee = callees.get(uses)
    if callee is None:
        raise RunError(f"job '{job.id}' calls {uses}, which was not loaded", position=job.pos)
    trigger = callee.on.get("workflow_call")
    config = trigger.config if trigger is not None else {}
    outer = parent.prefix if parent is not None else ""
    jobs: list[PlannedJob] = []
    for key, name, combo, index, total in _legs(job, contexts, matrix_filter, parent):
        call = PlannedCall(
            job_id=outer + job.id,
            key=outer + key,
            name=f"{parent.name} / {name}" if parent is not None else name,
            uses=uses,
            needs=[outer + n for n in job.needs],
            if_=job.if_,
            with_=job.with_ if isinstance(job.with_, str) else dict(job.with_),
            secrets=job.secrets if isinstance(job.secrets, str | None) else dict(job.secrets),
            inputs=_mapping(config.get("inputs")),
            outputs=_mapping(config.get("outputs")),
            env=callee.env if isinstance(callee.env, str) else dict(callee.env),
            jobs=list(callee.jobs),
            matrix=combo,
            strategy_index=index,
            strategy_total=total,
            fail_fast=job.strategy.fail_fast if job.strategy else True,
            max_parallel=job.strategy.max_parallel if job.strategy else None,
            concurrency_group=job.concurrency.group if job.concurrency else None,
            concurrency_cancel_in_progress=(
                job.concurrency.cancel_in_progress if job.concurrency else False
            ),
            parent=parent,
            position=job.at("uses"),
        )
        jobs.extend(_inline(callee, call, callees, contexts))
    return jobs


def waits_for(call: PlannedCall) -> list[str]:
    """What a root job of `call`'s callee waits for: the caller's needs, or for a
    caller that is itself a root of its callee, what that call waits for."""
    while not call.needs and call.parent is not None:
        call = call.parent
    return list(call.needs)


def _inline(
    callee: Workflow,
    call: PlannedCall,
    callees: Mapping[str, Workflow],
    contexts: Mapping[str, Any],
) -> list[PlannedJob]:
    from stageline.plan.compile import plan_job

    def renamed(base: PlannedJob) -> PlannedJob:
        job_id = call.prefix + base.job_id
        return dataclasses.replace(
            base,
            key=job_id,
            job_id=job_id,
            name=f"{call.name} / {base.name}",
            needs=[call.prefix + n for n in base.needs] or waits_for(call),
            call=call,
        )

    jobs: list[PlannedJob] = []
    for inner in callee.jobs.values():
        if inner.uses is not None:
            jobs.extend(inline_call(inner, callees, contexts, None, parent=call))
        else:
            jobs.extend(plan_job(callee, inner, contexts, None, inlined=renamed))
    return jobs


def _legs(
    job: Job,
    contexts: Mapping[str, Any],
    matrix_filter: Mapping[str, list[str]] | None,
    parent: PlannedCall | None,
) -> list[tuple[str, str, dict[str, Any] | None, int, int]]:
    """`(key, name, matrix, index, total)` of each call `job` makes: one, or one per
    kept leg of its matrix (keyed and named as legs of a job are)."""
    name = job.name or job.id
    strategy = job.strategy
    raw = strategy.matrix if strategy is not None else None
    if strategy is None or raw is None:
        return [(job.id, name, None, 0, 1)]
    pos = strategy.at("matrix")
    templated = isinstance(raw, str) or matrices.has_templates(raw)
    if templated and (parent is not None or matrices.references(raw, "needs")):
        raise RunError(
            f"job '{job.id}': a matrix that reads `needs` or `inputs` on a job that calls "
            "a reusable workflow is not supported",
            position=pos,
            hint="list the matrix values, or read them from the event's inputs",
        )
    where = matrices.key_positions(strategy)
    if templated:
        combos = matrices.expand_strategy(raw, contexts, pos, positions=where)
    else:
        assert not isinstance(raw, str)
        combos = matrices.expand(raw, pos, positions=where)
    from stageline.plan.compile import wanted

    total = len(combos)
    return [
        (f"{job.id}.{i + 1}", matrices.leg_name(name, combo), combo, i, total)
        for i, combo in enumerate(combos)
        if wanted(combo, matrix_filter)
    ]


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
