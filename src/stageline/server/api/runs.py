"""`/api/v1/runs`: list (filtered, a page at a time), one run, its artifacts, the
decisions reviewers make on it, and resuming it. Viewers read; developers resume;
reviewers decide.

Each route calls the `app` function the CLI calls (`app.reads`, `app.served`), on the
server's open store, and answers the CLI's `--json` shapes (`schemas`).
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from stageline.app import reads, served
from stageline.app.gates import NotCounted, decisions_of
from stageline.errors import ConfigError, RunError, StoreError
from stageline.server.api.schemas import DecisionMade, DecisionRequest, RunDocument, RunPage
from stageline.server.auth import Developer, Reviewer, Viewer
from stageline.server.problems import NotFound
from stageline.server.state import MAX_ID, Host, Server

if TYPE_CHECKING:
    from stageline.store.server_records import RepoRow

router = APIRouter(tags=["runs"])

#: A run's id in a path: bounded, so no database is asked for a number it cannot hold.
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id.")]
_Text = Annotated[str | None, Query(max_length=200)]
#: How much of an artifact's archive is sent at a time.
_CHUNK = 64 * 1024
_Repo = Annotated[str | None, Query(max_length=100, description="A registered repository.")]


@router.get("/runs", response_model=RunPage)
def list_runs(
    principal: Viewer,
    server: Server,
    repo: Annotated[
        str | None, Query(max_length=100, description="A registered repository.")
    ] = None,
    status: Annotated[
        str | None, Query(max_length=40, description="A status, or a conclusion (failure…).")
    ] = None,
    branch: _Text = None,
    workflow: Annotated[
        str | None, Query(max_length=200, description="The workflow's name or file.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=40, description="A previous page's `next_cursor`.")
    ] = None,
) -> RunPage:
    """The runs, newest first, a page at a time."""
    where = reads.RunFilter(
        repo_path=repo_of(server, repo).mirror_path if repo is not None else None,
        status=status,
        branch=branch,
        workflow=workflow,
    )
    return RunPage.of(reads.runs_in(server.store, where, limit=limit, cursor=cursor))


@router.get("/runs/{run_id}", response_model=RunDocument)
def get_run(run_id: RunId, principal: Viewer, server: Server) -> RunDocument:
    """One run with its jobs, steps, annotations and artifacts."""
    known(server, run_id)
    return RunDocument.of(reads.run_in(server.store, run_id), decisions_of(server.store, run_id))


@router.get(
    "/runs/{run_id}/artifacts/{name}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, 410: {"description": "Expired"}},
)
def download_artifact(
    run_id: RunId,
    name: Annotated[str, Path(max_length=200)],
    principal: Viewer,
    server: Server,
) -> StreamingResponse:
    """An artifact's files as one zip archive (as GitHub serves them)."""
    known(server, run_id)
    try:
        found = reads.artifact_in(server.store, run_id, name)
    except reads.ArtifactGone as err:
        raise HTTPException(410, err.message) from err
    except RunError as err:
        raise NotFound(err.message, hint=err.hint) from err
    archive = _zipped(found.files)
    size = archive.seek(0, os.SEEK_END)
    archive.seek(0)
    filename = f"{found.record.name}.zip".replace('"', "")
    return StreamingResponse(
        iter(lambda: archive.read(_CHUNK), b""),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
        },
        background=BackgroundTask(archive.close),
    )


@router.post("/runs/{run_id}/approvals", response_model=DecisionMade)
def decide(
    run_id: RunId, body: DecisionRequest, principal: Reviewer, server: Server
) -> DecisionMade:
    """The signed-in reviewer approves or rejects the deployment run `run_id` waits on.

    The run's author cannot approve it when the environment has ``prevent_self_review``
    (403); a decision that does not count is still recorded, and audited, as any is.
    """
    known(server, run_id)
    try:
        done = served.decide(
            server,
            run_id,
            body.decision,
            reviewer=principal.name,
            environment=body.environment,
            comment=body.comment,
        )
    except NotCounted as err:
        raise HTTPException(403, err.message) from err
    except ConfigError as err:  # several environments wait and none was named
        raise StoreError(err.message, hint="name one: environment") from err
    except RunError as err:  # it waits for no decision
        raise StoreError(err.message, hint=err.hint) from err
    return DecisionMade.of(done)


@router.post("/runs/{run_id}/resume", response_model=RunDocument, status_code=202)
def resume(run_id: RunId, principal: Developer, server: Server, host: Host) -> RunDocument:
    """Resume a run that stopped while it waited (a gate, a bake window, a rollback) and
    that nothing runs any more; the server's run host takes it up (409 when it cannot)."""
    known(server, run_id)
    try:
        host.resume(run_id, principal.name)
    except RunError as err:  # it has ended, or it is running
        raise StoreError(err.message, hint=err.hint) from err
    return RunDocument.of(reads.run_in(server.store, run_id), decisions_of(server.store, run_id))


def known(server: Server, run_id: int) -> None:
    """404 unless the record holds run `run_id`."""
    if server.store.runs.find_run(run_id) is None:
        raise NotFound(f"no run {run_id}", hint="see /api/v1/runs")


def repo_of(server: Server, name: str | None) -> RepoRow:
    """The registered repository `name` (None: the only one), or 404."""
    try:
        return served.repo(server, name)
    except served.UnknownRepo as err:
        raise NotFound(err.message, hint=err.hint) from err


def _zipped(root: os.PathLike[str] | str) -> io.BufferedRandom:
    """The files under `root` as a zip archive in a temporary file (spilled to disk)."""
    import tempfile

    archive = tempfile.TemporaryFile()  # noqa: SIM115  (closed after the response is sent)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for folder, _dirs, files in os.walk(root):
            for file in sorted(files):
                full = os.path.join(folder, file)
                zipped.write(full, os.path.relpath(full, root))
    return archive


__all__ = ["RunId", "known", "repo_of", "router"]
