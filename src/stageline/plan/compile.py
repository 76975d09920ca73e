"""Compile a workflow and an event into a `Plan`: one `PlannedJob` per job or matrix leg.

What is decided here, once, before anything runs:

* which jobs take part (`only_jobs` plus everything they need, transitively);
* matrix legs, expanded with GitHub's rules (`workflow.matrix`) and named as GitHub
  names them (``test (3.11, ubuntu)``), optionally narrowed by `matrix_filter`
  (``--matrix os:ubuntu``; a key with several values keeps a leg with any of them);
* run defaults (workflow ``defaults.run`` overridden key by key by the job's).

What is left for run time: every other expression (``if:``, env, ``with:``, ``run:``,
environment name and url), and matrices that read ``needs`` outputs. Such a job is
planned once with `deferred_matrix` set; the engine calls `expand_deferred` when its
needs are done. Legs are keyed ``<job id>.<n>`` (n counts from 1 over the whole
matrix, so a key does not change when `matrix_filter` drops other legs); ``.`` cannot
occur in a job id, so keys never collide. A job that calls a reusable workflow is
inlined (`plan.calls`): the callee's jobs are planned as jobs named ``<caller> / <job>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

from stageline.errors import Position, RunError
from stageline.plan.model import (
    Event,
    Plan,
    PlannedEnvironment,
    PlannedJob,
    PlannedStep,
)
from stageline.workflow import matrix as matrices
from stageline.workflow.model import Job, RunDefaults, Step, Workflow


def compile_plan(
    workflow: Workflow,
    event: Event,
    *,
    contexts: Mapping[str, Any] | None = None,
    only_jobs: Collection[str] | None = None,
    matrix_filter: Mapping[str, list[str]] | None = None,
    callees: Mapping[str, Workflow] | None = None,
) -> Plan:
    """The plan for running `workflow` on `event`.

    `contexts` are the contexts available before any job runs (``github``, ``vars``,
    ``inputs``, ...), used for matrix expressions; by default a minimal ``github`` and
    ``inputs`` built from the event. Raises `RunError` for an unknown job in `only_jobs`
    or a `matrix_filter` that leaves a job without legs, `WorkflowError` for an invalid
    matrix. `callees` are the loaded reusable workflows by their `uses:` (each call's
    callee must be there; `workflow.calls.load_callees` finds them).
    """
    from stageline.plan.calls import inline_call

    ctx = contexts if contexts is not None else event_contexts(event)
    selected = _closure(workflow, only_jobs)
    jobs: list[PlannedJob] = []
    for job_id, job in workflow.jobs.items():
        if job_id not in selected:
            continue
        if job.uses is not None:
            jobs.extend(inline_call(job, callees or {}, ctx, matrix_filter))
        else:
            jobs.extend(plan_job(workflow, job, ctx, matrix_filter))
    return Plan(
        workflow_name=workflow.display_name,
        workflow_path=workflow.path,
        event=event,
        env=dict(workflow.env),
        jobs=jobs,
        run_name=workflow.run_name,
        concurrency_group=workflow.concurrency.group if workflow.concurrency else None,
        concurrency_cancel_in_progress=(
            workflow.concurrency.cancel_in_progress if workflow.concurrency else False
        ),
    )


def expand_deferred(
    job: PlannedJob,
    contexts: Mapping[str, Any],
    *,
    matrix_filter: Mapping[str, list[str]] | None = None,
) -> list[PlannedJob]:
    """The legs of a job planned with `deferred_matrix`, now that `contexts` (with
    ``needs``) exist. Raises `WorkflowError` when the evaluated matrix is invalid."""
    if job.deferred_matrix is None:
        return [job]
    pos = job.position or Position(job.job_id)
    combos = matrices.expand_strategy(job.deferred_matrix, contexts, pos)
    template = dataclasses.replace(job, deferred_matrix=None)
    return legs(template, combos, matrix_filter, contexts)


def event_contexts(event: Event) -> dict[str, Any]:
    """The contexts an event alone provides (what matrix expressions may read before
    the run has any state): ``github`` basics and ``inputs``."""
    return {
        "github": {
            "event_name": event.name,
            "event": event.payload,
            "ref": event.ref,
            "sha": event.sha,
            "actor": event.actor,
            "repository": event.repository,
        },
        "inputs": dict(event.inputs),
        "vars": {},
    }


def _closure(workflow: Workflow, only_jobs: Collection[str] | None) -> set[str]:
    if only_jobs is None:
        return set(workflow.jobs)
    unknown = [j for j in only_jobs if j not in workflow.jobs]
    if unknown:
        listed = ", ".join(workflow.jobs) or "(none)"
        raise RunError(
            f"no job {', '.join(repr(j) for j in unknown)} in {workflow.display_name}",
            hint=f"jobs: {listed}",
        )
    selected: set[str] = set()
    todo = list(only_jobs)
    while todo:
        job_id = todo.pop()
        if job_id in selected or job_id not in workflow.jobs:
            continue
        selected.add(job_id)
        todo.extend(workflow.jobs[job_id].needs)
    return selected


def plan_job(
    workflow: Workflow,
    job: Job,
    contexts: Mapping[str, Any],
    matrix_filter: Mapping[str, list[str]] | None,
    inlined: Callable[[PlannedJob], PlannedJob] | None = None,
) -> list[PlannedJob]:
    """One job's planned legs. `inlined` renames the job of a called workflow before
    its legs are named; such a job's templated matrix waits for run time, since it
    may read the call's `inputs`."""
    base = _base(workflow, job)
    if inlined is not None:
        base = inlined(base)
    strategy = job.strategy
    raw = strategy.matrix if strategy else None
    if strategy is None or raw is None:
        return [base]
    pos = strategy.at("matrix")
    where = matrices.key_positions(strategy)
    templated = isinstance(raw, str) or matrices.has_templates(raw)
    if templated and (inlined is not None or matrices.references(raw, "needs")):
        return [dataclasses.replace(base, deferred_matrix=raw)]
    if templated:
        combos = matrices.expand_strategy(raw, contexts, pos, positions=where)
    else:
        assert not isinstance(raw, str)
        combos = matrices.expand(raw, pos, positions=where)
    return legs(base, combos, matrix_filter, contexts)


def legs(
    base: PlannedJob,
    combos: list[dict[str, Any]],
    matrix_filter: Mapping[str, list[str]] | None,
    contexts: Mapping[str, Any],
) -> list[PlannedJob]:
    """One planned job per kept combination. A `name:` with expressions is evaluated per
    leg (GitHub then appends no values); any other name gets the values appended."""
    custom = base.name if "${{" in base.name else None
    total = len(combos)
    kept = [(i, c) for i, c in enumerate(combos) if wanted(c, matrix_filter)]
    if not kept:
        assert matrix_filter is not None
        raise RunError(
            f"--matrix {_filter_text(matrix_filter)} leaves no leg of job '{base.job_id}'",
            position=base.position,
            hint=_available(combos, matrix_filter),
        )
    planned = []
    for index, combo in kept:
        name = matrices.leg_name(base.job_id if custom else base.name, combo)
        if custom is not None:
            name = _evaluate_name(custom, contexts, combo, index, total) or name
        planned.append(
            dataclasses.replace(
                base,
                key=f"{base.job_id}.{index + 1}",
                name=name,
                matrix=combo,
                strategy_index=index,
                strategy_total=total,
                steps=list(base.steps),
            )
        )
    return planned


def _evaluate_name(
    template: str,
    contexts: Mapping[str, Any],
    combo: Mapping[str, Any],
    index: int,
    total: int,
) -> str | None:
    """GitHub evaluates a job `name:` with expressions per leg (and then appends no
    values). Names reading contexts that do not exist yet keep the default name."""
    from stageline.errors import ExpressionError
    from stageline.expressions import evaluate_template

    scope = {
        **contexts,
        "matrix": dict(combo),
        "strategy": {"job-index": index, "job-total": total},
    }
    try:
        return matrices.display(evaluate_template(template, scope))
    except ExpressionError:
        return None


def wanted(combo: Mapping[str, Any], matrix_filter: Mapping[str, list[str]] | None) -> bool:
    if not matrix_filter:
        return True
    return all(
        key not in combo or matrices.display(combo[key]) in values
        for key, values in matrix_filter.items()
    )


def _filter_text(matrix_filter: Mapping[str, list[str]]) -> str:
    return " ".join(f"{k}:{v}" for k, values in matrix_filter.items() for v in values)


def _available(combos: list[dict[str, Any]], matrix_filter: Mapping[str, list[str]]) -> str:
    parts = []
    for key in matrix_filter:
        values = dict.fromkeys(matrices.display(c[key]) for c in combos if key in c)
        if values:
            parts.append(f"{key}: {', '.join(values)}")
    return "values in this matrix: " + "; ".join(parts) if parts else ""


def _base(workflow: Workflow, job: Job) -> PlannedJob:
    """The job with defaults merged, as one (not yet matrix-expanded) planned job."""
    own, wf = job.defaults, workflow.defaults
    strategy = job.strategy
    env = job.environment
    return PlannedJob(
        key=job.id,
        job_id=job.id,
        name=job.name or job.id,
        needs=list(job.needs),
        if_=job.if_,
        runs_on=job.runs_on,
        env=job.env if isinstance(job.env, str) else dict(job.env),
        defaults_shell=_default(own, wf, "shell"),
        defaults_working_directory=_default(own, wf, "working_directory"),
        outputs=dict(job.outputs),
        timeout_minutes=job.timeout_minutes,
        continue_on_error=job.continue_on_error,
        steps=[_step(step) for step in job.steps],
        fail_fast=strategy.fail_fast if strategy else True,
        max_parallel=strategy.max_parallel if strategy else None,
        environment=PlannedEnvironment(env.name, env.url) if env else None,
        concurrency_group=job.concurrency.group if job.concurrency else None,
        concurrency_cancel_in_progress=(
            job.concurrency.cancel_in_progress if job.concurrency else False
        ),
        services=dict(job.services),
        container=job.container,
        position=job.pos,
    )


def _step(step: Step) -> PlannedStep:
    return PlannedStep(
        index=step.index,
        id=step.id,
        name=step.name,
        if_=step.if_,
        run=step.run,
        shell=step.shell,
        uses=step.uses,
        with_=dict(step.with_),
        env=step.env if isinstance(step.env, str) else dict(step.env),
        working_directory=step.working_directory,
        continue_on_error=step.continue_on_error,
        timeout_minutes=step.timeout_minutes,
        position=step.pos,
    )


def _default(own: RunDefaults | None, workflow: RunDefaults | None, key: str) -> str | None:
    """A `defaults.run` setting: the job's wins over the workflow's, key by key."""
    for level in (own, workflow):
        value = getattr(level, key) if level is not None else None
        if value is not None:
            return str(value)
    return None
