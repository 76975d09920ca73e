"""The environments page: what is deployed where, its history and monitor results, DORA
figures with a chart, and a rollback button on each earlier good deployment.

A repository's environments come from the `.stageline.yml` at its mirror's HEAD
(`app.served.repo_context`, as the API reads them); the record (deployments,
rollbacks, DORA) is the server's store. A rollback is `app.served.rollback`, audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from stageline.app import deploys, served
from stageline.app.accounts import Role
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.state import MAX_ID, host_of
from stageline.server.web import charts, deps

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.deploy.dora import DoraMetrics
    from stageline.store.deploy_records import DeploymentRow
    from stageline.store.server_records import RepoRow

router = APIRouter(include_in_schema=False)

#: Deployments listed per environment, newest first.
HISTORY = 20
#: Who may roll back from the page (the API's rollback route asks the same).
ROLLBACK_ROLE = Role.REVIEWER


@dataclass(frozen=True, slots=True)
class EnvView:
    env: deploys.Environment
    current: DeploymentRow | None
    history: list[DeploymentRow]
    monitor_events: dict[int, list[str]]
    dora: DoraMetrics | None
    chart: Markup


def _chosen(server: ServerData, name: str | None) -> RepoRow | None:
    known = deps.repos(server)
    if name:
        found = next((r for r in known if r.name == name), None)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no repository {name!r}")
        return found
    return known[0] if known else None


def _monitor_lines(server: ServerData, row: DeploymentRow) -> list[str]:
    if row.run_id is None:
        return []
    events = server.store.runs.run_events(row.run_id)
    lines = [
        f"{e.data.get('check', 'check')}: {e.data.get('detail', 'failed')}"
        for e in events
        if e.kind.startswith("monitor.") and e.job_key == row.job_key
    ]
    return lines


def _views(server: ServerData, repo: RepoRow) -> list[EnvView]:
    ctx = served.repo_context(server, repo)
    rows = deploys.deployments_in(ctx)  # newest first
    dora = {m.environment: m for m in deploys.metrics_in(ctx)}
    today = datetime.now(UTC).date()
    views: list[EnvView] = []
    for env in deploys.environments_in(ctx):
        mine = [r for r in rows if r.environment == env.name]
        current = next((r for r in mine if r.id == env.current), None)
        days = charts.per_day(
            ((r.finished_at, r.status) for r in mine if r.kind == "deploy"), until=today
        )
        history = mine[:HISTORY]
        views.append(
            EnvView(
                env,
                current,
                history,
                {r.id: _monitor_lines(server, r) for r in history},
                dora.get(env.name),
                charts.bars(days, f"{env.name}: deployments per day, last {len(days)} days"),
            )
        )
    return views


def _render(
    request: Request,
    who: deps.Me,
    repo_name: str | None,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    server = deps.server_of(request)
    repo = _chosen(server, repo_name)
    return deps.page(
        request,
        "environments.html",
        who,
        status=status,
        error=error,
        notice=notice,
        repos=deps.repos(server),
        repo=repo,
        envs=_views(server, repo) if repo else [],
        can_roll_back=who.role >= ROLLBACK_ROLE,
    )


@router.get("/environments", response_class=HTMLResponse)
def environments_page(
    request: Request,
    principal: auth.Viewer,
    repo: deps.RepoName = None,
    rolled: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    notice = f"{rolled} rolled back." if rolled else None
    return _render(request, deps.me(principal), repo, notice=notice)


@router.post("/environments/{environment}/rollback", response_model=None)
def roll_back(
    request: Request,
    environment: str,
    principal: auth.Reviewer,
    repo: Annotated[str, Form(max_length=200)],
    to: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    server = deps.server_of(request)
    who = deps.me(principal)
    chosen = _chosen(server, repo)
    assert chosen is not None  # _chosen raised a 404 for an unknown name
    try:
        executor = host_of(request).job_executor()
        served.rollback(server, chosen, environment, to=to, who=who.name, executor=executor)
    except StagelineError as err:  # nothing deployed, no such deployment, or it failed
        return _render(request, who, chosen.name, error=err.message, status=409)
    query = urlencode({"repo": chosen.name, "rolled": environment})
    return RedirectResponse(f"/environments?{query}", status_code=303)


__all__ = ["ROLLBACK_ROLE", "router"]
