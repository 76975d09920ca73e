"""What developers do from the pages: cancel a run, run it again (all of it or only
its failed jobs), and start a workflow by hand (`workflow_dispatch`, inputs as
`name=value` lines, typed by the workflow's declarations when it is planned).

Each is the API's own operation (`RunHost.cancel`/`rerun`, `app.triggers.dispatch`),
audited there; a refusal comes back on the page it was asked from.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from stageline.app.triggers import dispatch
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.state import host_of
from stageline.server.web import deps
from stageline.server.web.runs import detail_of, render_run, render_runs

router = APIRouter(include_in_schema=False)


@router.post("/runs/{run_id}/cancel", response_model=None)
def cancel(request: Request, run_id: deps.Id, principal: auth.Developer) -> Response:
    who = deps.me(principal)
    detail_of(deps.server_of(request), run_id)
    try:
        host_of(request).cancel(run_id, who.name)
    except StagelineError as err:  # it has ended meanwhile
        return render_run(request, run_id, who, error=err.message, status=409)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post("/runs/{run_id}/rerun", response_model=None)
def rerun(
    request: Request,
    run_id: deps.Id,
    principal: auth.Developer,
    failed_only: Annotated[bool, Form()] = False,
) -> Response:
    who = deps.me(principal)
    detail_of(deps.server_of(request), run_id)
    try:
        new = host_of(request).rerun(run_id, failed_only, who.name)
    except StagelineError as err:  # nothing to re-run, or it could not be planned
        return render_run(request, run_id, who, error=err.message, status=409)
    return RedirectResponse(f"/runs/{new[0]}" if new else "/", status_code=303)


def parse_inputs(text: str) -> dict[str, str]:
    """`name=value` lines (blank lines skipped) as a mapping; ValueError names a bad line."""
    inputs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"inputs line {number}: expected name=value, got {line.strip()!r}")
        inputs[name.strip()] = value.strip()
    return inputs


@router.post("/dispatch", response_model=None)
def run_workflow(
    request: Request,
    principal: auth.Developer,
    repo: Annotated[str, Form(max_length=100)],
    workflow: Annotated[str, Form(min_length=1, max_length=300)],
    ref: Annotated[str, Form(max_length=300)] = "",
    inputs: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    who = deps.me(principal)
    server = deps.server_of(request)
    found = server.store.server.get_repo(repo)
    if found is None:
        raise HTTPException(404, f"no repository {repo!r}")
    try:
        given = parse_inputs(inputs)
        row = dispatch(
            server, host_of(request), found, workflow=workflow, ref=ref or None,
            inputs=given, by=who.name,
        )  # fmt: skip
    except (ValueError, StagelineError) as err:
        message = err.message if isinstance(err, StagelineError) else str(err)
        return render_runs(request, who, repo, error=message, status=400)
    if row.outcome != "started" or not row.run_ids:
        return render_runs(request, who, repo, error=row.reason or "nothing started", status=422)
    return RedirectResponse(f"/runs/{row.run_ids[0]}", status_code=303)


__all__ = ["parse_inputs", "router"]
