"""Actions a `uses:` step can run without a network.

* built in: ``actions/checkout``, ``actions/upload-artifact``, ``actions/download-artifact``,
  ``actions/cache`` (and ``actions/cache/restore``, ``actions/cache/save``),
  ``hmarr/auto-approve-action`` — any ref;
* local: ``./path`` to a directory with ``action.yml``/``action.yaml`` in the workspace;
* vendored: ``OWNER/REPO[/PATH]@REF`` found as ``<action dir>/OWNER/REPO@REF[/PATH]``;
  local and vendored actions may be ``composite`` or ``node*`` (run with the machine's
  ``node``).

`check_uses` says, before a run starts, why a `uses:` could not run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stageline.plan.model import PlannedStep
from stageline.runner.actions import approve, artifacts, cache, checkout, local
from stageline.runner.actions.call import ActionCall
from stageline.runner.state import JobState, Scope, StepOutcome

Handler = Callable[[ActionCall], Awaitable[StepOutcome]]

BUILTIN: dict[str, Handler] = {
    "actions/checkout": checkout.run,
    "actions/upload-artifact": artifacts.upload,
    "actions/download-artifact": artifacts.download,
    "actions/cache": cache.run,
    "actions/cache/restore": cache.restore,
    "actions/cache/save": cache.save,
    "hmarr/auto-approve-action": approve.run,
}
_REMOTE = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)(?P<sub>(?:/[^@]+)?)@(?P<ref>.+)$")
VENDOR_HINT = (
    "vendor it: copy the action into the repository and use `uses: ./path/to/action`, or "
    "put it in `.stageline/actions/{owner}/{repo}@{ref}/` (e.g. `git clone --depth 1 "
    "--branch {ref} https://github.com/{owner}/{repo} .stageline/actions/{owner}/{repo}@{ref}`)"
)


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a `uses:` points: a built-in handler or an action directory."""

    uses: str
    ref: str = ""
    builtin: Handler | None = None
    directory: str | None = None
    repository: str = ""


def resolve(uses: str, workspace: str, action_dirs: Sequence[str]) -> Resolved | str:
    """The action `uses` names, or an error message (with a hint) when it cannot run."""
    uses = uses.strip()
    if "${{" in uses:
        return f"'uses: {uses}': expressions are not allowed in `uses`"
    if uses.startswith("docker://"):
        return (
            f"'uses: {uses}': Docker actions are not supported by the local executor; "
            "run the tool in a `run:` step instead"
        )
    if uses.startswith(("./", "../", "$/")) or uses == ".":  # $/: the workflow's own repo
        directory = os.path.normpath(os.path.join(workspace, uses.removeprefix("$/")))
        problem = local.check_directory(directory, uses)
        return problem or Resolved(uses, directory=directory)
    match = _REMOTE.match(uses)
    if not match:
        return (
            f"'uses: {uses}' is not a valid action reference: expected OWNER/REPO@REF, "
            "OWNER/REPO/PATH@REF, ./path or docker://image"
        )
    owner, repo, sub, ref = match["owner"], match["repo"], match["sub"], match["ref"]
    name = f"{owner}/{repo}{sub}".lower()
    if name in BUILTIN:
        return Resolved(uses, ref=ref, builtin=BUILTIN[name], repository=f"{owner}/{repo}")
    for base in action_dirs:
        directory = os.path.join(base, owner, f"{repo}@{ref}", sub.strip("/"))
        if os.path.isdir(directory):
            problem = local.check_directory(directory, uses)
            if problem:
                return problem
            return Resolved(uses, ref=ref, directory=directory, repository=f"{owner}/{repo}")
    hint = VENDOR_HINT.format(owner=owner, repo=repo, ref=ref)
    return f"action '{uses}' is not available locally (Stageline downloads no actions); {hint}"


def check_uses(uses: str, repo_dir: str, action_dirs: Sequence[str]) -> str | None:
    """An error message when `uses` cannot run here, else None (local paths are checked
    in `repo_dir`, and composite actions' own `uses:` recursively)."""
    return _check(uses, repo_dir, action_dirs, set())


def _check(uses: str, repo_dir: str, action_dirs: Sequence[str], seen: set[str]) -> str | None:
    found = resolve(uses, repo_dir, action_dirs)
    if isinstance(found, str):
        return found
    if found.directory is None or found.directory in seen:
        return None
    seen.add(found.directory)
    for inner in local.nested_uses(found.directory):
        problem = _check(inner, repo_dir, action_dirs, seen)
        if problem:
            return f"{problem} (used by the action '{uses}')"
    return None


async def run_uses(
    state: JobState,
    scope: Scope,
    step: PlannedStep,
    contexts: Mapping[str, Any],
    own_env: Mapping[str, str],
    deadline: float,
    action: str,
) -> StepOutcome:
    """Run the action of a `uses:` step."""
    assert step.uses is not None
    found = resolve(step.uses, state.ws.workspace, state.ports.workspaces.action_dirs)
    if isinstance(found, str):
        state.error(scope, found, title="Action not available")
        return StepOutcome.failed()
    status = "success" if not scope.failed and state.status == "success" else state.status
    inputs = {k: state.evaluator.text(v, contexts, status) for k, v in step.with_.items()}
    call = ActionCall(
        state=state,
        scope=scope,
        step=step,
        inputs=inputs,
        contexts=contexts,
        own_env=own_env,
        deadline=deadline,
        action=action,
        ref=found.ref,
        repository=found.repository,
    )
    if found.builtin is not None:
        return await found.builtin(call)
    assert found.directory is not None
    return await local.run(call, found.directory)


__all__ = ["BUILTIN", "Resolved", "check_uses", "resolve", "run_uses"]
