"""`actions/upload-artifact` and `actions/download-artifact`, kept in the run's
`ArtifactStore` and shared by all its jobs (locally a directory, see
`stageline.runner.places`). An artifact appears atomically, so a concurrent download
never sees half of one.

Upload follows upload-artifact's rules: ``path`` is one or more patterns (``!`` excludes);
the root of the artifact is the least common ancestor of the search paths (the literal
part of each pattern), so the hierarchy is kept below the first wildcard; hidden files are
left out unless ``include-hidden-files`` (v4); ``if-no-files-found`` is warn/error/ignore;
``retention-days`` 1–90 (0 or empty: 90). From v4 on a name can be uploaded once per run
unless ``overwrite: true``; v3 and earlier add files to an existing artifact.
"""

from __future__ import annotations

import fnmatch
import os
import time

from stageline.runner.actions.call import ActionCall
from stageline.runner.globs import match_files, parse_patterns
from stageline.runner.ports import ArtifactError
from stageline.runner.state import StepOutcome
from stageline.runs.states import Conclusion

FORBIDDEN = set('":<>|*?\r\n\\/')
MAX_RETENTION = 90


def artifact_root(patterns_text: str, workspace: str) -> str:
    roots = [p.search_root for p in parse_patterns(patterns_text, workspace) if not p.negate]
    if not roots:
        raise ArtifactError("no path to upload was given")
    root = os.path.commonpath(roots)
    return os.path.dirname(root) if os.path.isfile(root) else root


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split(os.sep))


def collect(patterns_text: str, workspace: str, include_hidden: bool) -> tuple[str, list[str]]:
    """(root, files relative to root) an upload of `patterns_text` would store."""
    root = artifact_root(patterns_text, workspace)
    files = []
    for path in match_files(patterns_text, workspace):
        relative = os.path.relpath(path, root)
        if include_hidden or not _hidden(relative):
            files.append(relative)
    return root, files


async def upload(call: ActionCall) -> StepOutcome:
    state = call.state
    name = call.input("name") or "artifact"
    path = call.input("path")
    if not path.strip():
        state.error(call.scope, "upload-artifact: input required and not supplied: path")
        return StepOutcome.failed()
    if name in (".", ".."):  # a directory's own entries, not a name to store under
        state.error(
            call.scope,
            f"upload-artifact: invalid artifact name '{name}': a name must not be '.' or '..'",
        )
        return StepOutcome.failed()
    if FORBIDDEN & set(name) or not name.strip():
        state.error(
            call.scope,
            f"upload-artifact: the artifact name '{name}' is not valid: "
            'it must not contain any of " : < > | * ? \\r \\n \\ /',
        )
        return StepOutcome.failed()
    try:
        retention = int(call.input("retention-days") or 0) or MAX_RETENTION
    except ValueError:
        state.error(call.scope, "upload-artifact: retention-days must be a number")
        return StepOutcome.failed()
    retention = max(1, min(retention, MAX_RETENTION))
    version = call.major_version()
    modern = version is None or version >= 4
    include_hidden = call.flag("include-hidden-files", not modern)
    root, files = collect(path, state.ws.workspace, include_hidden)
    if not files:
        mode = call.input("if-no-files-found", "warn").lower()
        message = (
            f"No files were found with the provided path: {path}. No artifacts will be uploaded."
        )
        if mode == "error":
            state.error(call.scope, message)
            return StepOutcome.failed()
        if mode == "warn":
            state.warning(call.scope, message)
        else:
            call.log(message)
        return StepOutcome(Conclusion.SUCCESS)
    meta = {
        "name": name,
        "job": state.request.job.key,
        "step": call.scope.index,
        "retention_days": retention,
        "created_at": time.time(),
    }
    try:
        meta, directory = await state.ports.artifacts.upload(
            name, root, files, meta, not modern, call.flag("overwrite", False)
        )
    except ArtifactError as err:
        state.error(call.scope, f"upload-artifact: {err}")
        return StepOutcome.failed()
    call.log(f"Uploaded artifact '{name}': {len(files)} file(s), {meta['size']} bytes")
    state.sink.event("artifact.uploaded", {**meta, "path": directory})
    return StepOutcome(Conclusion.SUCCESS, outputs={"artifact-id": name, "artifact-url": directory})


async def download(call: ActionCall) -> StepOutcome:
    state = call.state
    artifacts = state.ports.artifacts
    name = call.input("name")
    dest = call.workspace_path(call.input("path") or ".")
    if name:
        if name not in await artifacts.names():
            state.error(
                call.scope,
                "download-artifact: Unable to download artifact(s): "
                f"Artifact not found for name: {name}",
            )
            return StepOutcome.failed()
        await artifacts.download(name, dest)
        call.log(f"Downloaded artifact '{name}' to {dest}")
        return StepOutcome(Conclusion.SUCCESS, outputs={"download-path": dest})
    pattern = call.input("pattern")
    merge = call.flag("merge-multiple", False)
    found = await artifacts.names()
    names = [n for n in found if not pattern or fnmatch.fnmatchcase(n, pattern)]
    for each in names:
        target = dest if merge else os.path.join(dest, each)
        await artifacts.download(each, target)
        call.log(f"Downloaded artifact '{each}' to {target}")
    if not names:
        call.log("No artifacts to download.")
    return StepOutcome(Conclusion.SUCCESS, outputs={"download-path": dest})
