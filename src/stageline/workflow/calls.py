"""Reusable-workflow calls (`jobs.<id>.uses`): their callees loaded and checked.

A call is checked as GitHub checks it before a run: the callee must declare
``on.workflow_call``, every required input must be given in `with:` (every required
secret in a `secrets:` mapping), and only declared ones may be passed. Callees are
loaded recursively, since a callee may call others, within GitHub's limits: ten levels
of workflows (the caller and nine levels of callees) and fifty distinct reusable
workflows in one run. A callee may keep or lower the `permissions` its caller gives,
never raise them. `load_callees` gives them to `plan.compile`, which inlines them.
The local form (``./.github/workflows/x.yml``) is read relative to the repository
root; the remote form (``OWNER/REPO/.github/workflows/x.yml@REF``) is fetched by the
`Fetch` the caller gives (the engine's, over the action cache), since this layer has no
network.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow.fields import did_you_mean
from stageline.workflow.model import Job, Node, Workflow

#: GitHub's limits: levels of workflows connected (the top-level caller included) and
#: distinct reusable workflows one run may call (docs: "Reusing workflow configurations").
MAX_LEVELS = 10
MAX_CALLED = 50


#: Fetches a remote callee (`OWNER/REPO/.github/workflows/x.yml@REF`): its file, a
#: one-line message saying why it cannot be had, or None when it is not to be looked at
#: now (`validate` without the callee in the cache: its checks are left to the run).
Fetch = Callable[[str], "Path | str | None"]


@dataclass(slots=True)
class Callees:
    """The reusable workflows a workflow calls, at any depth, by their `uses:`."""

    workflows: dict[str, Workflow] = field(default_factory=dict)
    faults: list[Diagnostic] = field(default_factory=list)
    fetch: Fetch | None = None
    #: Callees fetched from another repository (their own local calls are refused).
    remote: set[str] = field(default_factory=set)


def check_calls(
    workflow: Workflow, root: str | os.PathLike[str], fetch: Fetch | None = None
) -> list[Diagnostic]:
    """Every fault of the reusable-workflow calls in `workflow`, a file under `root`."""
    return load_callees(workflow, root, fetch).faults


def load_callees(
    workflow: Workflow, root: str | os.PathLike[str], fetch: Fetch | None = None
) -> Callees:
    """Load every workflow `workflow` calls, directly or through its callees, and check
    each call against its callee (faults positioned in the calling file). Without
    `fetch`, a remote call is an error."""
    found = Callees(fetch=fetch)
    base = Path(root)
    try:
        top = "./" + Path(workflow.path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        top = workflow.path
    _load(workflow, base, found, [top], None)
    return found


def _load(
    workflow: Workflow, root: Path, found: Callees, chain: list[str], limit: Levels | None
) -> None:
    for job in workflow.jobs.values():
        if job.uses is None:
            continue
        if chain[-1] in found.remote and job.uses.startswith("./"):
            job.uses = _beside(chain[-1], job.uses)
        first = job.uses not in found.workflows
        callee, faults = _callee(job, root, found, chain)
        found.faults.extend(faults)
        if callee is None:
            continue
        found.faults.extend(check_call(job, callee))
        given = job.permissions if job.permissions is not None else workflow.permissions
        allowed = _lowest(limit, levels(given))
        found.faults.extend(check_permissions(job, callee, allowed))
        if first:  # its own calls are checked once
            _load(callee, root, found, [*chain, job.uses], allowed)


#: A `permissions:` value as a level per scope (0 none, 1 read, 2 write).
Levels = dict[str, int]
_LEVELS = {"none": 0, "read": 1, "write": 2}
_NAMES = {v: k for k, v in _LEVELS.items()}


def levels(permissions: Any) -> Levels | None:
    """What `permissions` grants per scope; None when it is not set (the repository's
    default then applies, which Stageline does not know, so nothing is refused)."""
    from stageline.workflow.build import PERMISSIONS

    if permissions is None:
        return None
    if permissions in ("read-all", "write-all"):
        level = 1 if permissions == "read-all" else 2
        return dict.fromkeys(PERMISSIONS, level)
    if isinstance(permissions, Mapping):
        granted = dict.fromkeys(PERMISSIONS, 0)  # scopes not listed get none
        granted.update({str(k): _LEVELS.get(str(v), 0) for k, v in permissions.items()})
        return granted
    return None


def _listed(items: Iterable[str], shown: int = 3) -> str:
    every = list(items)
    more = f" and {len(every) - shown} more" if len(every) > shown else ""
    return ", ".join(every[:shown]) + more


def _lowest(a: Levels | None, b: Levels | None) -> Levels | None:
    if a is None or b is None:
        return a if b is None else b
    return {scope: min(level, b.get(scope, 0)) for scope, level in a.items()}


def check_permissions(job: Job, callee: Workflow, allowed: Levels | None) -> list[Diagnostic]:
    """A called workflow may keep or lower the `GITHUB_TOKEN` permissions its caller
    gives, never raise them (GitHub refuses the run). Faults are positioned where the
    callee asks for more."""
    if allowed is None:
        return []
    found: list[Diagnostic] = []
    asks: list[tuple[Node, Any, str]] = [(callee, callee.permissions, "its `permissions`")]
    asks += [(j, j.permissions, f"job '{j.id}'") for j in callee.jobs.values()]
    for node, wanted, who in asks:
        excess = [
            (scope, level)
            for scope, level in (levels(wanted) or {}).items()
            if level > allowed.get(scope, 0)
        ]
        if not excess:
            continue
        asked = _listed(f"'{scope}: {_NAMES[level]}'" for scope, level in excess)
        given = _listed(f"'{scope}: {_NAMES[allowed.get(scope, 0)]}'" for scope, _ in excess)
        found.append(
            Diagnostic(
                node.at("permissions"),
                f"{job.uses}: {who} asks for {asked}, but the calling job '{job.id}' "
                f"allows only {given}",
                hint="a called workflow can only keep or lower its caller's permissions; "
                "grant more in the calling job's `permissions:`",
            )
        )
    return found


def _callee(
    job: Job, root: Path, found: Callees, chain: list[str]
) -> tuple[Workflow | None, list[Diagnostic]]:
    """The workflow `job` calls, loaded once per run, or why it cannot be."""
    uses = job.uses or ""
    where = job.at("uses")
    if uses in chain:
        return None, [Diagnostic(where, f"job '{job.id}' calls {uses}, which calls itself")]
    if len(chain) >= MAX_LEVELS:
        return None, [
            Diagnostic(
                where,
                f"job '{job.id}' calls {uses} at level {len(chain) + 1}: GitHub connects at "
                f"most {MAX_LEVELS} levels of workflows",
                hint="calls: " + " → ".join([*chain, uses]),
            )
        ]
    known = found.workflows.get(uses)
    if known is not None:
        return known, []
    if len(found.workflows) >= MAX_CALLED:
        return None, [
            Diagnostic(
                where,
                f"job '{job.id}' calls {uses}: a run calls at most {MAX_CALLED} distinct "
                "reusable workflows",
            )
        ]
    loaded, faults = _load_file(job, root, found)
    if loaded is not None:
        found.workflows[uses] = loaded
    return loaded, faults


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
    found.extend(_literal_types(job, target, given, declared))
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


def _literal_types(
    job: Job, target: str, given: Mapping[str, object], declared: Mapping[str, object]
) -> list[Diagnostic]:
    """A value written as is (no expression) that its input's type refuses, found
    before the run as GitHub finds it."""
    from stageline.errors import RunError
    from stageline.workflow.inputs import typed_values

    found = []
    for name, value in given.items():
        config = declared.get(name)
        if not isinstance(config, Mapping) or (isinstance(value, str) and "${{" in value):
            continue
        try:
            typed_values({name: config}, {name: value}, target)
        except RunError as err:
            found.append(
                Diagnostic(
                    job.at(f"with.{name}"),
                    f"job '{job.id}': {err.message}",
                    hint=err.hint,
                )
            )
    return found


def _secrets(job: Job, target: str, spec: object) -> list[Diagnostic]:
    """A `secrets:` mapping must pass every required secret and only declared ones;
    `secrets: inherit` passes all of the caller's, which is checked at run time; no
    `secrets:` passes none."""
    if job.secrets == "inherit":
        return []
    given = job.secrets if isinstance(job.secrets, dict) else {}
    declared: Mapping[str, object] = spec if isinstance(spec, Mapping) else {}
    found = [
        Diagnostic(
            job.at("secrets"),
            f"job '{job.id}' passes unknown secret '{name}' to {target}",
            hint=f"secrets: {', '.join(declared) or '(none)'}",
        )
        for name in given
        if name not in declared
    ]
    found += [
        Diagnostic(
            job.at("secrets") if "secrets" in job.positions else job.at("uses"),
            f"job '{job.id}' does not pass required secret '{name}' to {target}",
            hint=f"add `{name}:` under `secrets:`, or use `secrets: inherit`",
        )
        for name, config in declared.items()
        if isinstance(config, Mapping) and config.get("required") is True and name not in given
    ]
    return found


_REPOSITORY = re.compile(r"^(?P<repo>[^/@]+/[^/@]+)/[^@]+@(?P<ref>.+)$")


def _beside(remote: str, local: str) -> str:
    """A local call (``./path``) made by the remote workflow `remote`: as on GitHub, the
    file of the same repository at the same commit, called in the remote form."""
    match = _REPOSITORY.match(remote)
    assert match is not None  # `remote` was fetched, so it has the remote form
    return f"{match['repo']}/{local[2:]}@{match['ref']}"


_REMOTE = re.compile(r"^[^/@]+/[^/@]+/\.github/workflows/[^/@]+\.ya?ml@.+$")


def _load_file(job: Job, root: Path, found: Callees) -> tuple[Workflow | None, list[Diagnostic]]:
    uses = job.uses or ""
    where = job.at("uses")
    if uses.startswith("./"):
        path = root / uses[2:]
        if not path.is_file():
            missing = f"job '{job.id}' calls '{uses}', which does not exist"
            return None, [Diagnostic(where, missing)]
    elif not _REMOTE.match(uses):
        return None, [
            Diagnostic(
                where,
                f"job '{job.id}' calls '{uses}', which is not a reusable workflow",
                hint="use ./.github/workflows/FILE.yml or "
                "OWNER/REPO/.github/workflows/FILE.yml@REF",
            )
        ]
    elif found.fetch is None:
        return None, [
            Diagnostic(
                where, f"job '{job.id}' calls the remote workflow '{uses}', not fetched here"
            )
        ]
    else:
        got = found.fetch(uses)
        if got is None:
            return None, []
        if isinstance(got, str):
            return None, [Diagnostic(where, f"job '{job.id}' calls {uses}: {got}")]
        path = got
        found.remote.add(uses)
    from stageline.workflow.loader import load_workflow

    try:
        return load_workflow(path), []
    except WorkflowError as err:
        return None, [
            Diagnostic(where, f"job '{job.id}' calls '{uses}', which is invalid"),
            *err.diagnostics,
        ]
