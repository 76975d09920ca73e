"""Actions a `uses:` step can run without a network.

* built in: ``actions/checkout``, ``actions/upload-artifact``, ``actions/download-artifact``,
  ``actions/cache`` (and ``actions/cache/restore``, ``actions/cache/save``),
  ``hmarr/auto-approve-action`` — any ref;
* local: ``./path`` to a directory with ``action.yml``/``action.yaml`` in the workspace;
* vendored: ``OWNER/REPO[/PATH]@REF`` found as ``<action dir>/OWNER/REPO@REF[/PATH]``;
* remote: any other ``OWNER/REPO[/PATH]@REF`` or ``https://host/OWNER/REPO[/PATH]@REF``,
  fetched with git into the user's action cache (`remote`);
local, vendored and remote actions may be ``composite`` or ``node*`` (run with the
machine's ``node``).

`check_uses` says, before a run starts, why a `uses:` could not run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stageline.plan.model import PlannedStep
from stageline.runner.actions import approve, artifacts, cache, checkout, local
from stageline.runner.actions.call import ActionCall
from stageline.runner.state import JobState, Scope, StepOutcome
from stageline.workflow import localuses

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
_URL = re.compile(r"^[a-z]+://[^/]+/")


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a `uses:` points: a built-in handler or an action directory."""

    uses: str
    ref: str = ""
    builtin: Handler | None = None
    directory: str | None = None
    repository: str = ""
    sha: str = ""  # the commit of a fetched action
    url: str = ""  # where a fetched action came from


def resolve(
    uses: str,
    workspace: str,
    action_dirs: Sequence[str],
    *,
    prefer_cache: bool = False,
    cache_only: bool = False,
    refresh: bool = False,
) -> Resolved | str:
    """The action `uses` names, or an error message when it cannot run. A remote action
    is fetched (see `remote.fetch` for `prefer_cache`, `cache_only` and `refresh`)."""
    uses = uses.strip()
    if "${{" in uses:
        return f"'uses: {uses}': expressions are not allowed in `uses`"
    if uses.startswith("docker://"):
        return f"action '{uses}': {local.CONTAINER_HINT}"
    if localuses.is_local(uses):  # $/: the workflow's own repo
        escaped = localuses.escape(uses, workspace)
        if escaped:
            return f"{escaped}: {localuses.HINT}"
        directory = os.path.normpath(os.path.join(workspace, uses.removeprefix("$/")))
        problem = local.check_directory(directory, uses)
        return problem or Resolved(uses, directory=directory)
    if _URL.match(uses):
        return _remote(uses, prefer_cache=prefer_cache, cache_only=cache_only, refresh=refresh)
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
    return _remote(uses, prefer_cache=prefer_cache, cache_only=cache_only, refresh=refresh)


def _remote(uses: str, *, prefer_cache: bool, cache_only: bool, refresh: bool) -> Resolved | str:
    from stageline.runner.actions import remote  # git and the cache only when needed

    action = remote.parse(uses)
    if action is None:
        return f"'uses: {uses}' is not a valid action reference: expected OWNER/REPO@REF"
    try:
        fetched = remote.fetch(
            action, prefer_cache=prefer_cache, cache_only=cache_only, refresh=refresh
        )
    except remote.FetchError as err:
        return str(err)
    problem = local.check_directory(fetched.directory, uses)
    if problem:
        return f"{problem} (fetched from {action.url} at {fetched.sha[:12]})"
    return Resolved(
        uses,
        ref=action.ref,
        directory=fetched.directory,
        repository=f"{action.owner}/{action.repo}",
        sha=fetched.sha,
        url=action.url,
    )


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


def container_problem(uses: str, repo_dir: str, action_dirs: Sequence[str]) -> str | None:
    """The message `run` would give for a container action, when `uses` is one that can be
    seen without a network (a `docker://` image, a local, vendored or cached action)."""
    if "${{" in uses:
        return None
    found = resolve(uses, repo_dir, action_dirs, cache_only=True)
    return found if isinstance(found, str) and local.CONTAINER_HINT in found else None


def pull(
    uses: Iterable[str], repo_dir: str, action_dirs: Sequence[str]
) -> tuple[list[Resolved], list[str]]:
    """Fetch afresh every remote action `uses` names and every one used inside them
    (composite actions, local ones included): the actions fetched, and the problems."""
    fetched: list[Resolved] = []
    problems: list[str] = []
    seen: set[str] = set()
    todo = [(u, "") for u in uses]
    while todo:
        name, user = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        found = resolve(name, repo_dir, action_dirs, refresh=True)
        if isinstance(found, str):
            problems.append(f"{found} (used by the action '{user}')" if user else found)
            continue
        if found.sha:
            fetched.append(found)
        if found.directory is not None:
            todo.extend((inner, name) for inner in local.nested_uses(found.directory))
    return fetched, problems


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
    found = resolve(
        step.uses, state.ws.workspace, state.ports.workspaces.action_dirs, prefer_cache=True
    )
    if isinstance(found, str):
        state.error(scope, found, title="Action not available")
        return StepOutcome.failed()
    if found.sha:
        state.sink.event(
            "action.resolved",
            {"uses": found.uses, "sha": found.sha, "url": found.url, "step": step.index},
        )
    status = "success" if not scope.failed and state.status == "success" else state.status
    inputs = state.evaluator.mapping(step.with_, contexts, status)
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


__all__ = ["BUILTIN", "Resolved", "check_uses", "container_problem", "pull", "resolve", "run_uses"]
