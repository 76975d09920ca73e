"""`/api/v1/environments`, `/deployments`, `/metrics`, `/rollbacks`: what is deployed
where and how well, and rolling an environment back. Viewers read; reviewers roll back
(audited), in the background: the answer is 202 with the rollback to follow.

Environments belong to a repository: `repo` names a registered one, and may be left
out when the server has only one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from stageline.app import deploys, served
from stageline.errors import RunError, StoreError
from stageline.server.api.runs import repo_of
from stageline.server.api.schemas import (
    Deployment,
    Environment,
    Metrics,
    Rollback,
    RollbackRequest,
)
from stageline.server.auth import Reviewer, Viewer
from stageline.server.problems import NotFound
from stageline.server.state import MAX_ID, Host, Server

router = APIRouter(tags=["environments"])

_Repo = Annotated[
    str | None,
    Query(max_length=100, description="A registered repository (default: the only one)."),
]
_Environment = Annotated[str | None, Query(max_length=200)]


@router.get("/environments", response_model=list[Environment])
def list_environments(principal: Viewer, server: Server, repo: _Repo = None) -> list[Environment]:
    """The environments of `.stageline.yml` (at the repository's HEAD), then any others
    deployed to: their rules and what is deployed there now."""
    ctx = served.repo_context(server, repo_of(server, repo))
    return [Environment.of(e) for e in deploys.environments_in(ctx)]


@router.get("/deployments", response_model=list[Deployment])
def list_deployments(
    principal: Viewer, server: Server, repo: _Repo = None, environment: _Environment = None
) -> list[Deployment]:
    """Deployments and rollbacks, newest first."""
    ctx = served.repo_context(server, repo_of(server, repo))
    return [Deployment.of(d) for d in deploys.deployments_in(ctx, environment)]


@router.get("/metrics", response_model=list[Metrics])
def metrics(
    principal: Viewer,
    server: Server,
    repo: _Repo = None,
    environment: _Environment = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Only the last DURATION, e.g. 720h.")
    ] = None,
) -> list[Metrics]:
    """DORA's four keys, for `environment` or each environment deployed to."""
    from stageline.durations import parse_duration

    window = parse_duration(since) if since else None
    ctx = served.repo_context(server, repo_of(server, repo))
    return [Metrics.of(m) for m in deploys.metrics_in(ctx, environment, since=window)]


@router.post(
    "/environments/{name}/rollback",
    response_model=Rollback,
    status_code=202,
    responses={409: {"description": "Nothing to roll back, or the rollback failed at once"}},
)
def rollback(
    name: Annotated[str, Path(max_length=200)],
    body: RollbackRequest,
    request: Request,
    response: Response,
    principal: Reviewer,
    server: Server,
    host: Host,
    repo: _Repo = None,
) -> Rollback:
    """Roll the environment back to deployment `to` (default: the one before the current):
    by the run whose bake window is paused there, else by the server's run host, in the
    background. Answers 202 with the rollback once it is recorded; follow it at
    `Location` (`GET /rollbacks/{id}`)."""
    found = repo_of(server, repo)
    try:
        rollback_id = host.roll_back(found, name, to=body.to, who=principal.name)
    except RunError as err:  # nothing deployed, no such deployment, or it failed at once
        raise StoreError(err.message, hint=err.hint) from err
    row = server.store.deployments.get_rollback(rollback_id) if rollback_id else None
    if row is None:
        return Rollback.pending(name, principal.name)
    response.headers["Location"] = request.app.url_path_for("get_rollback", rollback_id=row.id)
    return Rollback.of(row)


@router.get("/rollbacks/{rollback_id}", response_model=Rollback)
def get_rollback(
    rollback_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The rollback's id.")],
    principal: Viewer,
    server: Server,
) -> Rollback:
    """One rollback: how it is going, or how it ended and why."""
    row = server.store.deployments.get_rollback(rollback_id)
    if row is None:
        raise NotFound(f"no rollback {rollback_id}", hint="see /api/v1/deployments")
    return Rollback.of(row)


__all__ = ["router"]
