"""The approval panel's form: approve or reject a waiting run as the signed-in user.

The decision is `app.served.decide` (the API's too): the authenticated user is the
reviewer, judged against the run's author, so self-review prevention and N-of-M apply
as on the CLI, and it is audited. A decision that does not count is recorded all the
same and the run page comes back with the reason on top.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from stageline.app import served
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps
from stageline.server.web.runs import detail_of, render_run

router = APIRouter(include_in_schema=False)


@router.post("/runs/{run_id}/decide", response_model=None)
def decide(
    request: Request,
    run_id: deps.Id,
    principal: auth.Reviewer,
    verdict: Annotated[str, Form(pattern="^(approve|reject)$")],
    environment: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    server = deps.server_of(request)
    who = deps.me(principal)
    detail_of(server, run_id)  # a 404 for a run the record does not hold
    try:
        served.decide(
            server,
            run_id,
            "approve" if verdict == "approve" else "reject",
            reviewer=who.name,
            environment=environment or None,
            comment=comment or None,
        )
    except StagelineError as err:  # recorded but not counted, or nothing to decide
        return render_run(request, run_id, who, error=err.message, status=409)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


__all__ = ["router"]
