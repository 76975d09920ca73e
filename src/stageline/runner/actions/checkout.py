"""`actions/checkout`: the run's repository as a real git repository in the workspace.

Supported inputs: ``path`` (under the workspace), ``ref`` (a branch, tag or commit of the
same repository; default: the run's commit), ``fetch-depth`` (default 1, 0 = all history,
branches and tags), ``fetch-tags``, ``clean``. ``repository`` may only name the run's own
repository: nothing is fetched from a network. The remote ``origin`` is the local source
repository. A ``path`` that is not already a repository is emptied first, as GitHub does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

from stageline.runner.actions.call import ActionCall
from stageline.runner.state import StepOutcome
from stageline.runner.workspace import remove_tree
from stageline.runs.states import Conclusion


class CheckoutError(Exception):
    pass


def _git(cwd: str, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if result.returncode != 0:
        raise CheckoutError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def resolve_ref(repo_dir: str, ref: str) -> tuple[str, str]:
    """(commit, full ref or '') of `ref` in the source repository."""
    candidates = (
        [ref]
        if ref.startswith("refs/")
        else [
            f"refs/heads/{ref}",
            f"refs/tags/{ref}",
            f"refs/remotes/origin/{ref}",
            ref,
        ]
    )
    for candidate in candidates:
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            full = candidate if candidate.startswith("refs/") else ""
            if full.startswith("refs/remotes/origin/"):
                full = "refs/heads/" + full.removeprefix("refs/remotes/origin/")
            return result.stdout.strip(), full
    raise CheckoutError(f"ref '{ref}' was not found in the repository")


def _empty(directory: str) -> None:
    for name in os.listdir(directory):
        remove_tree(os.path.join(directory, name))


def checkout(
    repo_dir: str, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
) -> None:
    """Materialise `sha` (reached by `ref`) from `repo_dir` into `target`."""
    os.makedirs(target, exist_ok=True)
    url = "file://" + os.path.abspath(repo_dir)
    if not os.path.isdir(os.path.join(target, ".git")):
        _empty(target)
        _git(target, "init", "-q")
        _git(target, "remote", "add", "origin", url)
    elif clean:
        _git(target, "clean", "-ffdx")
        _git(target, "reset", "--hard", "-q", "HEAD")
    fetch = ["fetch", "-q", "--no-recurse-submodules", "--prune"]
    fetch += ["--tags"] if tags or depth == 0 else ["--no-tags"]
    if depth > 0:
        fetch.append(f"--depth={depth}")
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    if depth == 0:
        fetch += ["origin", "+refs/heads/*:refs/remotes/origin/*", sha]
    elif branch:
        fetch += ["origin", f"+{sha}:refs/remotes/origin/{branch}"]
    elif ref.startswith("refs/tags/"):
        fetch += ["origin", f"+{sha}:{ref}"]
    else:
        fetch += ["origin", sha]
    _git(target, *fetch)
    if branch:
        _git(target, "checkout", "-q", "--force", "-B", branch, sha)
    else:
        _git(target, "checkout", "-q", "--force", "--detach", sha)


async def run(call: ActionCall) -> StepOutcome:
    state = call.state
    request = state.request
    repository = call.input("repository")
    own = state.github.get("repository") or ""
    if repository and repository.lower() != own.lower():
        state.error(
            call.scope,
            f"actions/checkout: repository '{repository}' is not the "
            f"run's repository ('{own}'); only the run's own repository can be "
            "checked out locally",
        )
        return StepOutcome.failed()
    target = call.workspace_path(call.input("path", "") or ".")
    workspace = state.ws.workspace
    if target != workspace and not target.startswith(workspace + os.sep):
        state.error(
            call.scope, f"actions/checkout: path '{call.input('path')}' is not under the workspace"
        )
        return StepOutcome.failed()
    try:
        depth = int(call.input("fetch-depth", "1") or "1")
    except ValueError:
        state.error(call.scope, "actions/checkout: fetch-depth must be a number")
        return StepOutcome.failed()
    ref_input = call.input("ref")
    try:
        if ref_input:
            sha, ref = await asyncio.to_thread(resolve_ref, request.repo_dir, ref_input)
        else:
            sha, ref = request.sha, request.ref
        call.log(f"Checking out {ref or sha} ({sha}) into {target}")
        await asyncio.to_thread(
            checkout,
            request.repo_dir,
            target,
            sha,
            ref,
            max(depth, 0),
            call.flag("fetch-tags", False),
            call.flag("clean", True),
        )
    except CheckoutError as err:
        state.error(call.scope, f"actions/checkout: {err}")
        return StepOutcome.failed()
    return StepOutcome(Conclusion.SUCCESS, outputs={"ref": ref, "commit": sha})
