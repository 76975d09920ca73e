"""`stageline runs`, `show` and `logs`: read the record of past and running runs.

The record is the store of the repository you stand in (`.stageline/`, or
`$STAGELINE_HOME`), read through `app.reads` (which first completes runs whose
process is gone, so the record never claims a dead run is still going); with
`--server`, a team server's record (`cli.remote`), printed the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stageline.cli.documents import iso, run_document
from stageline.cli.options import DatabaseUrl, Repo, RunId, Server

if TYPE_CHECKING:
    from stageline.app.gates import DecisionView
    from stageline.cli.remote import Remote
    from stageline.store import RunDetail

_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _state(status: str, conclusion: str | None) -> str:
    return conclusion if status == "completed" and conclusion else status


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _took(start: Any, end: Any) -> str:
    if not start or not end:
        return "-"
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def runs(
    json_output: _Json = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    database_url: DatabaseUrl = None,
    server: Server = None,
    repo: Repo = None,
) -> None:
    """List the newest runs of this repository."""
    import json

    from stageline.cli.tables import print_table

    if server:
        from stageline.cli import remote
        from stageline.store import RunRecord

        with remote.connect(server) as api:
            documents = api.get("/runs", limit=limit, repo=repo)["runs"]
        if json_output:
            return remote.dump(documents)
        records = [remote.record(RunRecord, d) for d in documents]
    else:
        from stageline.app import reads
        from stageline.store import jsonable

        records = reads.runs(Path.cwd(), limit=limit, database_url=database_url)
        if json_output:
            print(json.dumps([jsonable(r) for r in records], indent=2))
            return
    table: list[list[str]] = []
    for r in records:
        note = r.waiting_for if r.status in ("waiting", "pending") else (r.reason or "")
        table.append(
            [
                str(r.id),
                str(r.number),
                r.workflow,
                r.event,
                r.ref.removeprefix("refs/heads/") or r.sha[:12],
                _state(r.status, r.conclusion),
                _when(r.started_at or r.created_at),
                _took(r.started_at, r.finished_at),
                note or "",
            ]
        )
    columns = ("ID", "#", "WORKFLOW", "EVENT", "REF", "STATE", "STARTED", "TOOK", "NOTE")
    print_table(columns, table)


def show(
    run: RunId,
    json_output: _Json = False,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Show one run: its jobs and steps, annotations, what it waits for, and why it ended."""
    import json

    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            document = api.get(remote.path("runs", run))
        if json_output:
            return remote.dump(document)
        _print_detail(_detail_of(document))
        return _print_decisions(document["decisions"])

    from stageline.app import gates, reads

    detail = reads.run(Path.cwd(), run, database_url=database_url)
    views = gates.run_decisions(Path.cwd(), detail.run.id, database_url=database_url)
    decisions = [decision_document(view) for view in views]
    if json_output:
        print(json.dumps({**run_document(detail, steps=True), "decisions": decisions}, indent=2))
        return
    _print_detail(detail)
    _print_decisions(decisions)


def decision_document(view: DecisionView) -> dict[str, Any]:
    """A decision as `show --json` prints it (`server.api.schemas.Decision`)."""
    return {
        "environment": view.environment,
        "kind": view.kind,
        "reviewer": view.reviewer,
        "verdict": view.verdict,
        "at": iso(view.at),
        "comment": view.comment,
        "origin": view.made,
    }


def _print_decisions(decisions: list[dict[str, Any]]) -> None:
    """One line per decision, with where it was made (a terminal's OS user and git
    identity, or the server)."""
    from stageline.deploy.reviewers import describe_origin

    for d in decisions:
        said = ' "{}"'.format(d["comment"]) if d["comment"] else ""
        origin = describe_origin(d["origin"] or {})
        made = f" ({origin})" if origin else ""
        print(f"decision: {d['environment']}: {d['verdict']} by {d['reviewer']}{made}{said}")


def _detail_of(document: dict[str, Any]) -> RunDetail:
    """The record `show` renders, from the server's run document."""
    from stageline.cli.remote import record
    from stageline.store import RunDetail, RunRecord
    from stageline.store.records import AnnotationRecord, ArtifactRecord, JobRecord, StepRecord

    jobs = [
        record(JobRecord, j, steps=[record(StepRecord, s) for s in j["steps"]])
        for j in document["jobs"]
    ]
    return RunDetail(
        record(RunRecord, document, id=document["run_id"]),
        jobs,
        [record(AnnotationRecord, a) for a in document["annotations"]],
        [record(ArtifactRecord, a) for a in document["artifacts"]],
    )


def _print_detail(detail: RunDetail) -> None:
    import json

    from rich.table import Table

    from stageline.cli.tables import record_console

    r = detail.run
    console = record_console(highlight=False)
    console.print(f"[bold]run {r.id}[/] #{r.number} {r.workflow} ({r.workflow_path})")
    console.print(f"  {r.event} {r.ref or '-'} {r.sha[:12]} by {r.actor or '-'}")
    console.print(
        f"  {_state(r.status, r.conclusion)}; started {_when(r.started_at)}, "
        f"took {_took(r.started_at, r.finished_at)}"
    )
    if r.waiting_for:
        console.print(f"  waiting for: {r.waiting_for}")
    if r.reason:
        console.print(f"  reason: {r.reason}")
    console.print(f"  logs: {r.log_dir}")
    table = Table(box=None, header_style="bold", show_edge=False)
    for column in ("JOB", "STATE", "TOOK", "DETAIL"):
        table.add_column(column)
    for job in detail.jobs:
        note = job.waiting_for or job.reason or ""
        if job.outputs:
            note = (note + " " if note else "") + f"outputs: {json.dumps(job.outputs)}"
        table.add_row(
            f"[bold]{job.name}[/]",
            _state(job.status, job.conclusion),
            _took(job.started_at, job.finished_at),
            note,
        )
        for step in job.steps:
            state = _state(step.status, step.conclusion)
            if step.outcome and step.conclusion and step.outcome != step.conclusion:
                state = f"{step.outcome} → {step.conclusion}"
            exit_note = f"exit {step.exit_code}" if step.exit_code not in (None, 0) else ""
            table.add_row(
                f"  {step.number + 1}. {step.name}",
                state,
                _took(step.started_at, step.finished_at),
                exit_note,
            )
    console.print(table)
    for a in detail.annotations:
        where = f"{a.file}:{a.line}" if a.file and a.line else (a.file or "")
        console.print(f"{a.level}: [{a.job_key}] {where + ': ' if where else ''}{a.message}")
    for artifact in detail.artifacts:
        console.print(
            f"artifact: {artifact.name} ({artifact.size or 0} bytes) from {artifact.job_key}"
        )


def logs(
    run: RunId,
    job: Annotated[
        str | None,
        typer.Argument(help="Only this job (its id, key or name).", show_default=False),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run completes.")
    ] = False,
    database_url: DatabaseUrl = None,
    server: Server = None,
) -> None:
    """Print a run's step logs, in job and step order. With --follow, exits 1 if the
    run's process died before the run completed."""
    import sys

    if server:
        from stageline.cli import remote

        with remote.connect(server) as api:
            print_remote_logs(api, run, job, follow=follow)
        return

    from stageline.app import reads

    for chunk in reads.logs(Path.cwd(), run, job, follow=follow, database_url=database_url):
        if chunk.first:
            print(f"== {chunk.job} / {chunk.step} ==", flush=True)
        for line in chunk.lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    if follow:  # the run completed: say so if its process died rather than ended it
        from stageline.errors import RunError
        from stageline.store.liveness import died

        ended = reads.run(Path.cwd(), run, database_url=database_url).run
        if died(ended.reason):
            raise RunError(
                f"run {ended.id} stopped: {ended.reason}",
                hint=f"see `stageline show {ended.id}`",
            )


def print_remote_logs(api: Remote, run: int, job: str | None, *, follow: bool) -> None:
    """A server's logs of run `run` (of `job`), job after job; with `follow`, each job's
    as it is written until it ends, then any job the run added meanwhile."""
    import sys

    from stageline.cli.remote import path

    done: set[str] = set()
    while True:
        document = api.get(path("runs", run))
        jobs = [j for j in document["jobs"] if job is None or job in (j["job_id"], j["key"])]
        if job is not None and not jobs:
            jobs = [{"key": job}]  # a name: the server resolves it, or says there is none
        todo = [j["key"] for j in jobs if j["key"] not in done]
        if not todo:
            return
        for key in todo:
            done.add(key)
            logs_path = path("runs", run, "jobs", key, "logs")
            if not follow:
                sys.stdout.buffer.write(api.content(logs_path))
                sys.stdout.flush()
                continue
            for event in api.events(logs_path + "/follow"):
                if event.name == "log":
                    sys.stdout.write(event.data + "\n")
                    sys.stdout.flush()
        if not follow:
            return
