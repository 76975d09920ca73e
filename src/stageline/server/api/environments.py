"""`/api/v1/environments`, `/deployments`, `/metrics`: what is deployed where and how
well, and rolling an environment back. Viewers read; reviewers roll back (audited).

Environments belong to a repository: `repo` names a registered one, and may be left
out when the server has only one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from stageline.app import deploys, served
from stageline.errors import RunError, StoreError
from stageline.server.api.runs import repo_of
from stageline.server.api.schemas import (
    Deployment,
    Environment,
    Metrics,
    RollbackDone,
    RollbackRequest,
)
from stageline.server.auth import Reviewer, Viewer
from stageline.server.state import Host, Server

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


@router.post("/environments/{name}/rollback", response_model=RollbackDone)
def rollback(
    name: Annotated[str, Path(max_length=200)],
    body: RollbackRequest,
    principal: Reviewer,
    server: Server,
    host: Host,
    repo: _Repo = None,
) -> RollbackDone:
    """Roll the environment back to deployment `to` (default: the one before the current):
    by the run whose bake window is paused there, else by the server now."""
    found = repo_of(server, repo)
    try:
        done = served.rollback(
            server, found, name, to=body.to, who=principal.name, executor=host.job_executor()
        )
    except RunError as err:  # nothing deployed, no such deployment, or the rollback failed
        raise StoreError(err.message, hint=err.hint) from err
    return RollbackDone.of(name, done)


__all__ = ["router"]
