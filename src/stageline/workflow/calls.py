"""Checks of a job that calls a reusable workflow (`jobs.<id>.uses`) against its callee.

A call is checked as GitHub checks it before a run: the callee must declare
``on.workflow_call``, every required input must be given in `with:` (every required
secret in a `secrets:` mapping), and only declared ones may be passed. Only the
local form (``./.github/workflows/x.yml``, relative to the repository root) is checked;
the remote form, a matrix on the calling job and nested calls are reported as not
supported yet, so that a user learns it before the run starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow.fields import did_you_mean
from stageline.workflow.model import Job, Workflow


def check_calls(workflow: Workflow, root: str | os.PathLike[str]) -> list[Diagnostic]:
    """Every fault of the reusable-workflow calls in `workflow`, a file under `root`."""
    found: list[Diagnostic] = []
    for job in workflow.jobs.values():
        if job.uses is not None:
            found.extend(_check(job, Path(root)))
    return found


def check_call(job: Job, callee: Workflow) -> list[Diagnostic]:
    """The faults of `job`'s `with:` and `secrets:` against what `callee` declares
    under ``on.workflow_call``."""
    target = job.uses or callee.path
    trigger = callee.on.get("workflow_call")
    if trigger is None:
        return [
            Diagnostic(
                job.at("uses"),
                f"job '{job.id}' calls {target}, which has no `on: workflow_call`",
                hint="a reusable workflow must declare the workflow_call trigger",
            )
        ]
    spec = trigger.config.get("inputs")
    declared: Mapping[str, object] = spec if isinstance(spec, Mapping) else {}
    found: list[Diagnostic] = []
    given = job.with_ if isinstance(job.with_, dict) else None
    for name in given or {}:
        if name not in declared:
            guess = did_you_mean(name, list(declared))
            listed = ", ".join(declared) or "(none)"
            found.append(
                Diagnostic(
                    job.at(f"with.{name}"),
                    f"job '{job.id}' passes unknown input '{name}' to {target}",
                    hint=f"did you mean '{guess}'?" if guess else f"inputs: {listed}",
                )
            )
    if given is None:  # `with:` is one expression: its keys are known only at run time
        return found
    for name, config in declared.items():
        required = isinstance(config, Mapping) and config.get("required") is True
        if required and name not in given:
            found.append(
                Diagnostic(
                    job.at("with") if "with" in job.positions else job.at("uses"),
                    f"job '{job.id}' does not pass required input '{name}' to {target}",
                    hint=f"add `{name}:` under `with:`",
                )
            )
    found.extend(_secrets(job, target, trigger.config.get("secrets")))
    return found


def _secrets(job: Job, target: str, spec: object) -> list[Diagnostic]:
    """A `secrets:` mapping must pass every required secret and only declared ones;
    `secrets: inherit` passes all of the caller's, which is checked at run time."""
    if not isinstance(job.secrets, dict):
        return []
    declared: Mapping[str, object] = spec if isinstance(spec, Mapping) else {}
    found = [
        Diagnostic(
            job.at("secrets"),
            f"job '{job.id}' passes unknown secret '{name}' to {target}",
            hint=f"secrets: {', '.join(declared) or '(none)'}",
        )
        for name in job.secrets
        if name not in declared
    ]
    found += [
        Diagnostic(
            job.at("secrets"),
            f"job '{job.id}' does not pass required secret '{name}' to {target}",
            hint=f"add `{name}:` under `secrets:`, or use `secrets: inherit`",
        )
        for name, config in declared.items()
        if isinstance(config, Mapping)
        and config.get("required") is True
        and name not in job.secrets
    ]
    return found


def _check(job: Job, root: Path) -> list[Diagnostic]:
    uses = job.uses or ""
    where = job.at("uses")
    if not uses.startswith("./"):
        return [
            Diagnostic(
                where,
                f"job '{job.id}' calls the remote workflow '{uses}', which is not supported yet",
                hint="only local calls (`uses: ./.github/workflows/x.yml`) are supported",
            )
        ]
    if job.strategy is not None and job.strategy.matrix is not None:
        return [
            Diagnostic(
                job.strategy.at("matrix"),
                f"job '{job.id}': `strategy.matrix` on a job that calls a reusable workflow "
                "is not supported yet",
            )
        ]
    path = root / uses[2:]
    if not path.is_file():
        return [Diagnostic(where, f"job '{job.id}' calls '{uses}', which does not exist")]
    from stageline.workflow.loader import load_workflow

    try:
        callee = load_workflow(path)
    except WorkflowError as err:
        return [
            Diagnostic(where, f"job '{job.id}' calls '{uses}', which is invalid"),
            *err.diagnostics,
        ]
    if any(j.uses is not None for j in callee.jobs.values()):
        return [
            Diagnostic(
                where,
                f"job '{job.id}' calls '{uses}', which itself calls a reusable workflow; "
                "nested calls are not supported yet",
            )
        ]
    return check_call(job, callee)
