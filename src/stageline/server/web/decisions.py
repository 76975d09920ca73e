"""The approval panel's form: approve or reject a waiting run as the signed-in user.

The decision is `app.gates.decide_in` with the authenticated user as reviewer and the
run's author (`approvals.run_author`), so self-review prevention and N-of-M apply as on
the CLI. A decision that does not count is recorded all the same (the gate's record
shows it) and the run page comes back with the reason on top.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from stageline.app import context, gates
from stageline.app.accounts import audit
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps
from stageline.server.web.approvals import run_author, run_config
from stageline.server.web.runs import detail_of, render_run

router = APIRouter(include_in_schema=False)


@router.post("/runs/{run_id}/decide", response_model=None)
def decide(
    request: Request,
    run_id: int,
    principal: auth.Reviewer,
    verdict: Annotated[str, Form(pattern="^(approve|reject)$")],
    environment: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    server = deps.server_of(request)
    who = deps.me(principal)
    detail = detail_of(server, run_id)
    author = run_author(server, run_id, detail.run.actor)
    ctx = context.over(server.store, detail.run.repo_path, run_config(server, detail))
    action = f"gate.{verdict}"
    try:
        done = gates.decide_in(
            ctx,
            run_id,
            "approve" if verdict == "approve" else "reject",
            reviewer=who.name,
            author=author,
            environment=environment or None,
            comment=comment or None,
        )
    except StagelineError as err:
        audit(server, who.name, action, f"run {run_id}", {"refused": err.message})
        return render_run(request, run_id, who, error=err.message, status=409)
    audit(server, who.name, action, f"run {run_id}", {"environment": done.environment})
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


__all__ = ["router"]
