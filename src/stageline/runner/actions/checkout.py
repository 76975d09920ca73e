"""`actions/checkout`: the run's repository as a real git repository in the workspace.

Supported inputs: ``path`` (under the workspace), ``ref`` (a branch, tag or commit of the
same repository; default: the run's commit), ``fetch-depth`` (default 1, 0 = all history,
branches and tags), ``fetch-tags``, ``clean``. ``repository`` may only name the run's own
repository, which the job's `WorkspaceProvider` fetches (locally: from the source
repository, the remote ``origin``; nothing from a network). A ``path`` that is not already
a repository is emptied first, as GitHub does.
"""

from __future__ import annotations

import os

from stageline.runner.actions.call import ActionCall
from stageline.runner.ports import CheckoutError
from stageline.runner.state import StepOutcome
from stageline.runs.states import Conclusion


async def run(call: ActionCall) -> StepOutcome:
    state = call.state
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
    workspaces = state.ports.workspaces
    try:
        if ref_input:
            sha, ref = await workspaces.resolve(ref_input)
        else:
            sha, ref = state.request.sha, state.request.ref
        call.log(f"Checking out {ref or sha} ({sha}) into {target}")
        await workspaces.checkout(
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
