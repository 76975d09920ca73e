"""What developers do from the pages: cancel a run, run it again (all of it or only
its failed jobs), and start a workflow by hand (`workflow_dispatch`: a form with a
field per declared input, `dispatchform`).

Each is the API's own operation (`RunHost.cancel`/`rerun`, `app.triggers.dispatch`),
audited there; a refusal comes back on the page it was asked from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stageline.app.triggers import dispatch
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.state import host_of
from stageline.server.web import deps, dispatchform
from stageline.server.web.runs import detail_of, render_run

if TYPE_CHECKING:
    from stageline.store.server_records import RepoRow

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


def _repo(request: Request, name: str) -> RepoRow:
    found = deps.server_of(request).store.server.get_repo(name)
    if found is None:
        raise HTTPException(404, f"no repository {name!r}")
    return found


def _form_page(
    request: Request,
    who: deps.Me,
    repo: str,
    workflow: str,
    *,
    ref: str = "",
    spec: dispatchform.Declared | None = None,
    given: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return deps.page(
        request,
        "dispatch.html",
        who,
        status=status,
        error=error,
        repo=repo,
        workflow=workflow,
        ref=ref,
        spec=spec,
        fields=dispatchform.fields(spec, given) if spec else [],
    )


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_form(
    request: Request,
    principal: auth.Developer,
    repo: Annotated[str, Query(max_length=100)],
    workflow: Annotated[str, Query(min_length=1, max_length=300)],
) -> HTMLResponse:
    """The workflow's inputs as typed fields (or why it cannot be run by hand)."""
    who = deps.me(principal)
    found = _repo(request, repo)
    try:
        spec = dispatchform.declared(deps.server_of(request), found, workflow)
    except StagelineError as err:
        return _form_page(request, who, repo, workflow, error=err.message, status=422)
    return _form_page(request, who, repo, workflow, spec=spec)


@router.post("/dispatch", response_model=None)
async def run_workflow(
    request: Request,
    principal: auth.Developer,
    repo: Annotated[str, Form(max_length=100)],
    workflow: Annotated[str, Form(min_length=1, max_length=300)],
    ref: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Dispatch with the posted fields typed by the workflow's declarations, through
    `app.triggers.dispatch` as the API does; a refusal comes back in the form."""
    who = deps.me(principal)
    server = deps.server_of(request)
    found = _repo(request, repo)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}

    def run() -> Response:
        given: dict[str, str] | None = None
        spec: dispatchform.Declared | None = None
        try:
            spec = dispatchform.declared(server, found, workflow)
            given = dispatchform.posted(spec, form)
            inputs = dispatchform.typed(spec, given)
            row = dispatch(
                server, host_of(request), found, workflow=workflow, ref=ref or None,
                inputs=inputs, by=who.name,
            )  # fmt: skip
        except StagelineError as err:
            return _form_page(
                request, who, repo, workflow, ref=ref, spec=spec, given=given,
                error=err.message, status=400 if spec else 422,
            )  # fmt: skip
        if row.outcome != "started" or not row.run_ids:
            return _form_page(
                request, who, repo, workflow, ref=ref, spec=spec, given=given,
                error=row.reason or "nothing started", status=422,
            )  # fmt: skip
        return RedirectResponse(f"/runs/{row.run_ids[0]}", status_code=303)

    return await run_in_threadpool(run)


__all__ = ["router"]
