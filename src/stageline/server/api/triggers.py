"""Events and what they started, and the developer's triggers: dispatch, cancel, re-run.

`GET /repos/{name}/events` and `GET /events/{id}` show every event received, those
that started nothing with the reason (viewer). `POST /repos/{name}/dispatch` is
`workflow_dispatch` with typed inputs, `POST /runs/{id}/cancel` and
`POST /runs/{id}/rerun` act on a run (developer); each is audited by `app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stageline.app.triggers import dispatch
from stageline.server.auth import Developer, Viewer
from stageline.server.problems import NotFound, problem
from stageline.server.state import MAX_ID, Host, Server

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow, TriggerRow

router = APIRouter(tags=["events"])

Input = str | int | float | bool


class Dispatch(BaseModel):
    """A `workflow_dispatch`: the workflow file, the ref (default: the default branch)
    and the inputs (typed by the workflow's `inputs:`; wrong types are refused)."""

    workflow: str = Field(min_length=1, examples=["deploy.yml"])
    ref: str | None = Field(default=None, examples=["main"])
    inputs: dict[str, Input] = Field(default_factory=dict)


class Rerun(BaseModel):
    failed_only: bool = False


def trigger_document(row: TriggerRow, repo: str | None, *, payload: bool = False) -> dict[str, Any]:
    """A trigger as the API shows it (its payload only when asked for one event)."""
    document: dict[str, Any] = {
        "id": row.id,
        "repo": repo,
        "source": row.source,
        "kind": row.kind,
        "delivery_id": row.delivery_id,
        "ref": row.ref,
        "sha": row.sha,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(),
        "outcome": row.outcome,
        "reason": row.reason,
        "run_ids": list(row.run_ids),
    }
    if payload:
        document["payload"] = row.payload
    return document


@router.get("/repos/{name}/events")
def list_events(
    name: str,
    server: Server,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="A trigger id: the events before it.")
    ] = None,
) -> dict[str, Any]:
    """The repository's events, newest first; `next` is the cursor for the page after."""
    repo = _repo(server, name)
    rows = server.store.server.list_triggers(repo.id, limit=limit, before=before)
    events = [trigger_document(row, repo.name) for row in rows]
    return {"events": events, "next": rows[-1].id if len(rows) == limit else None}


@router.get("/events/{trigger_id}")
def get_event(
    trigger_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    server: Server,
    _: Viewer,
) -> dict[str, Any]:
    """One event with its payload and outcome."""
    row = server.store.server.get_trigger(trigger_id)
    if row is None:
        raise NotFound(f"no event {trigger_id}")
    repo = server.store.server.get_repo_by_id(row.repo_id) if row.repo_id is not None else None
    return trigger_document(row, repo.name if repo else None, payload=True)


@router.post("/repos/{name}/dispatch", status_code=201, response_model=None)
async def dispatch_workflow(
    name: str,
    body: Dispatch,
    server: Server,
    host: Host,
    principal: Developer,
) -> JSONResponse:
    """Run a workflow on `workflow_dispatch`: 201 with the event and its runs; 422 (the
    event still recorded) when it started nothing, with the reason."""

    def run() -> TriggerRow:
        repo = _repo(server, name)
        inputs = {k: _text(v) for k, v in body.inputs.items()}
        return dispatch(
            server,
            host,
            repo,
            workflow=body.workflow,
            ref=body.ref,
            inputs=inputs,
            by=principal.name,
        )

    row = await run_in_threadpool(run)
    document = trigger_document(row, name)
    if row.outcome != "started":
        return problem(422, row.reason or "nothing started", event=document)
    return JSONResponse(document, status_code=201)


@router.post("/runs/{run_id}/cancel")
def cancel_run(
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    server: Server,
    host: Host,
    principal: Developer,
) -> dict[str, Any]:
    """Cancel a run: `requested` (its thread stops it) or `completed` (nothing ran it)."""
    _run(server, run_id)
    cancelled = host.cancel(run_id, principal.name)
    return {"run_id": cancelled.run_id, "how": cancelled.how}


@router.post("/runs/{run_id}/rerun", status_code=201)
def rerun_run(
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    server: Server,
    host: Host,
    principal: Developer,
    body: Annotated[Rerun | None, Body()] = None,
) -> dict[str, Any]:
    """Run a run's workflow again at its commit with its event: all of it, or only its
    failed jobs (with the jobs they need)."""
    _run(server, run_id)
    failed_only = body.failed_only if body is not None else False
    return {"run_ids": host.rerun(run_id, failed_only, principal.name)}


def _repo(server: ServerData, name: str) -> RepoRow:
    found = server.store.server.get_repo(name)
    if found is None:
        raise NotFound(f"no repository named {name!r} is registered")
    return found


def _run(server: ServerData, run_id: int) -> None:
    if server.store.runs.find_run(run_id) is None:
        raise NotFound(f"no run {run_id}")


def _text(value: Input) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["router", "trigger_document"]
