"""Checks across a built workflow: what one key alone cannot tell.

``needs`` must name jobs of the file and must not form cycles (every cycle is
reported, each naming all its jobs); static matrices must expand (GitHub's rules,
at most 256 combinations); trigger filters must be valid patterns and not combine
``branches`` with ``branches-ignore`` (see `workflow.filters.check`).
"""

from __future__ import annotations

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow import filters, graph, matrix
from stageline.workflow.fields import did_you_mean
from stageline.workflow.model import Job, Workflow


def validate_workflow(workflow: Workflow) -> list[Diagnostic]:
    """Every cross-reference fault of `workflow`, in file order of the jobs."""
    found: list[Diagnostic] = []
    for job in workflow.jobs.values():
        found.extend(_needs(workflow, job))
        found.extend(_matrix(job))
    found.extend(_cycles(workflow))
    found.extend(filters.check(workflow))
    return found


def _needs(workflow: Workflow, job: Job) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for index, name in enumerate(job.needs):
        if name in workflow.jobs:
            continue
        guess = did_you_mean(name, [j for j in workflow.jobs if j != job.id])
        found.append(
            Diagnostic(
                job.positions.get(f"needs[{index}]", job.at("needs")),
                f"job '{job.id}' needs unknown job '{name}'",
                hint=f"did you mean '{guess}'?" if guess else f"jobs: {', '.join(workflow.jobs)}",
            )
        )
    return found


def _cycles(workflow: Workflow) -> list[Diagnostic]:
    """One diagnostic per cycle: after reporting one, its closing edge is dropped and
    the search runs again, so independent cycles are all named."""
    needs = {
        job_id: [n for n in job.needs if n in workflow.jobs]
        for job_id, job in workflow.jobs.items()
    }
    found: list[Diagnostic] = []
    while (cycle := graph.find_cycle(needs)) is not None:
        last, first = cycle[-1], cycle[0]
        job = workflow.jobs[last]
        index = job.needs.index(first)
        found.append(
            Diagnostic(
                job.positions.get(f"needs[{index}]", job.at("needs")),
                graph.cycle_message(cycle),
                hint="a job cannot (directly or indirectly) need itself; remove one of these needs",
            )
        )
        needs[last] = [n for n in needs[last] if n != first]
    return found


def _matrix(job: Job) -> list[Diagnostic]:
    strategy = job.strategy
    if strategy is None or not isinstance(strategy.matrix, dict):
        return []
    if matrix.has_templates(strategy.matrix):
        return []  # expanded at run time; its expressions were checked on loading
    prefix = "matrix."
    positions = {
        key[len(prefix) :]: pos for key, pos in strategy.positions.items() if key.startswith(prefix)
    }
    try:
        matrix.expand(strategy.matrix, strategy.at("matrix"), positions=positions)
    except WorkflowError as err:
        return err.diagnostics
    return []
