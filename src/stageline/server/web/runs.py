"""The runs list (its table polled), a run's page (graph, approval panel, gates,
annotations, summaries) and a job's page (steps and their logs), those two live over
SSE (`live`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from stageline.app import reads
from stageline.errors import StagelineError
from stageline.server import auth
from stageline.server.web import deps, live, logview
from stageline.server.web.approvals import panels
from stageline.server.web.jobgraph import stages
from stageline.store.logs import summary_path

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.records import JobRecord, RunDetail, StepRecord
    from stageline.store.server_records import RepoRow

router = APIRouter(include_in_schema=False)

#: The lines of a step's log a page shows (its last ones); the API serves all of them.
MAX_LINES = 5000
RUNS_SHOWN = 50
#: A job's key, in the query: a called workflow's job keys hold " / ".
JobKey = Annotated[str, Query(min_length=1, max_length=500)]


@dataclass(frozen=True, slots=True)
class StepView:
    step: StepRecord
    blocks: list[logview.Block]
    skipped: int
    summary: str | None
    open: bool


@dataclass(frozen=True, slots=True)
class Summary:
    job: str
    step: str
    text: str


def _not_found(detail: str) -> HTTPException:
    return HTTPException(status_code=404, detail=detail)


def _repo(server: ServerData, name: str | None) -> RepoRow | None:
    if not name:
        return None
    found = server.store.server.get_repo(name)
    if found is None:
        raise _not_found(f"no repository {name!r}")
    return found


def _runs_context(server: ServerData, repo: RepoRow | None) -> dict[str, Any]:
    where = reads.RunFilter(repo_path=repo.mirror_path if repo else None)
    known = deps.repos(server)
    return {
        "runs": reads.runs_in(server.store, where, limit=RUNS_SHOWN).runs,
        "repos": known,
        "repo": repo.name if repo else "",
        "repo_names": {r.mirror_path: r.name for r in known},
    }


@router.get("/", response_class=HTMLResponse)
def runs_page(
    request: Request,
    principal: auth.Viewer,
    repo: deps.RepoName = None,
) -> HTMLResponse:
    server = deps.server_of(request)
    context = _runs_context(server, _repo(server, repo))
    return deps.page(request, "runs.html", deps.me(principal), **context)


@router.get("/runs/table", response_class=HTMLResponse)
def runs_table(
    request: Request,
    principal: auth.Viewer,
    repo: deps.RepoName = None,
) -> HTMLResponse:
    """The runs list alone: the list page polls it (a list has no end to stream to)."""
    server = deps.server_of(request)
    context = _runs_context(server, _repo(server, repo))
    return deps.page(request, "_runs_table.html", deps.me(principal), **context)


def detail_of(server: ServerData, run_id: int) -> RunDetail:
    """The run, or a 404 naming it."""
    try:
        return reads.run_in(server.store, run_id)
    except StagelineError as err:
        raise _not_found(err.message) from err


def _run_repo(server: ServerData, run_id: int) -> RepoRow | None:
    link = server.store.server.run_link(run_id)
    return server.store.server.get_repo_by_id(link.repo_id) if link else None


def _summaries(detail: RunDetail) -> list[Summary]:
    out: list[Summary] = []
    for job in detail.jobs:
        for step in job.steps:
            text = _summary(step)
            if text:
                out.append(Summary(job.name, step.name, text))
    return out


def _summary(step: StepRecord) -> str | None:
    if not step.log_path:
        return None
    try:
        return summary_path(step.log_path).read_text(encoding="utf-8")
    except OSError:
        return None


def _run_parts(request: Request, run_id: int, who: deps.Me) -> tuple[dict[str, str], bool]:
    server = deps.server_of(request)
    detail = detail_of(server, run_id)
    body = deps.fragment(
        request,
        "_run_body.html",
        who,
        detail=detail,
        columns=stages(detail.jobs),
        summaries=_summaries(detail),
        gates=server.store.deployments.gates_of_run(run_id),
    )
    panel = deps.fragment(request, "_panel.html", who, panels=panels(server, detail, who))
    return {"body": body, "panel": panel}, detail.run.status == "completed"


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: deps.Id, principal: auth.Viewer) -> HTMLResponse:
    return render_run(request, run_id, deps.me(principal))


def render_run(
    request: Request, run_id: int, who: deps.Me, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    """The run page, with `error` on top when a form on it was refused."""
    server = deps.server_of(request)
    detail = detail_of(server, run_id)
    return deps.page(
        request,
        "run.html",
        who,
        status=status,
        error=error,
        detail=detail,
        repo=_run_repo(server, run_id),
        columns=stages(detail.jobs),
        summaries=_summaries(detail),
        gates=server.store.deployments.gates_of_run(run_id),
        panels=panels(server, detail, who),
    )


@router.get("/runs/{run_id}/stream")
def run_stream(request: Request, run_id: deps.Id, principal: auth.Viewer) -> StreamingResponse:
    who = deps.me(principal)
    detail_of(deps.server_of(request), run_id)  # a 404 now, not an empty stream
    return live.stream(request, lambda: _run_parts(request, run_id, who))


def _job(detail: RunDetail, key: str) -> JobRecord:
    found = next((j for j in detail.jobs if key in (j.key, j.job_id)), None)
    if found is None:
        raise _not_found(f"run {detail.run.id} has no job {key!r}")
    return found


def _read_lines(path: str | None) -> tuple[list[str], int]:
    """The last `MAX_LINES` lines of a step's log and how many came before them."""
    if not path:
        return [], 0
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], 0
    lines = text.splitlines()
    skipped = max(len(lines) - MAX_LINES, 0)
    return lines[skipped:], skipped


def _steps(job: JobRecord) -> list[StepView]:
    views: list[StepView] = []
    for step in job.steps:
        lines, skipped = _read_lines(step.log_path)
        active = step.status != "completed"
        failed = step.conclusion == "failure"
        views.append(
            StepView(
                step,
                logview.blocks(lines, first=skipped + 1),
                skipped,
                _summary(step),
                active or failed,
            )
        )
    return views


def _job_context(detail: RunDetail, job: JobRecord) -> dict[str, Any]:
    return {
        "detail": detail,
        "job": job,
        "steps": _steps(job),
        "annotations": [a for a in detail.annotations if a.job_key == job.key],
    }


@router.get("/runs/{run_id}/job/stream")
def job_stream(
    request: Request, run_id: deps.Id, key: JobKey, principal: auth.Viewer
) -> StreamingResponse:
    server = deps.server_of(request)
    who = deps.me(principal)
    _job(detail_of(server, run_id), key)

    def render() -> tuple[dict[str, str], bool]:
        detail = detail_of(server, run_id)
        job = _job(detail, key)
        html = deps.fragment(request, "_job_log.html", who, **_job_context(detail, job))
        return {"log": html}, job.status == "completed" or detail.run.status == "completed"

    return live.stream(request, render)


@router.get("/runs/{run_id}/job", response_class=HTMLResponse)
def job_page(
    request: Request, run_id: deps.Id, key: JobKey, principal: auth.Viewer
) -> HTMLResponse:
    detail = detail_of(deps.server_of(request), run_id)
    context = _job_context(detail, _job(detail, key))
    return deps.page(request, "job.html", deps.me(principal), **context)


__all__ = ["detail_of", "render_run", "router"]
