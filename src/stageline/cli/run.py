"""`stageline run`: run the repository's workflows that match an event, here, now.

Exit code: 0 when every run succeeded, 1 when one did not (or nothing could
start: no matching workflow, an invalid file, an action we cannot run), 130/143
when Ctrl-C/SIGTERM cancelled the run (its record is complete all the same).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stageline.cli.options import DatabaseUrl, ExecutorName, executor_name

if TYPE_CHECKING:
    from stageline.app.runs import ObserverFor
    from stageline.engine.events import Observer
    from stageline.engine.scheduler import RunSpec
    from stageline.engine.setup import ListedJob, Prepared
    from stageline.store import RunDetail
    from stageline.workflow.model import Workflow

_Many = Annotated[list[str] | None, typer.Option(show_default=False)]


def _may_be_terminal() -> bool:
    """Whether Rich could take stdout for a terminal (it alone decides; off a terminal,
    without its overrides set, the line printer is used and Rich is not loaded)."""
    return sys.stdout.isatty() or any(v in os.environ for v in ("FORCE_COLOR", "TTY_COMPATIBLE"))


def run(
    workflow: Annotated[
        str | None,
        typer.Argument(
            help="A workflow file, or the file name of one of .github/workflows. "
            "Default: every workflow whose `on:` matches the event.",
            show_default=False,
        ),
    ] = None,
    job: Annotated[
        list[str] | None,
        typer.Option("--job", "-j", help="Run this job and what it needs (repeatable)."),
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Event name (default: push).")
    ] = None,
    eventpath: Annotated[
        Path | None,
        typer.Option(
            "--eventpath",
            "-e",
            help="JSON event payload (github.event; its `inputs` are the inputs).",
            dir_okay=False,
        ),
    ] = None,
    workflows: Annotated[
        Path | None,
        typer.Option(
            "--workflows",
            "-W",
            help="A workflow file, or a directory of them (default: .github/workflows).",
            show_default=False,
        ),
    ] = None,
    ref: Annotated[
        str | None,
        typer.Option(
            help="Git ref of the event (default: the current branch).", show_default=False
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(help="github.actor (default: git config user.name).", show_default=False),
    ] = None,
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input", help="workflow_dispatch/workflow_call input KEY=VALUE (repeatable)."
        ),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="`vars` entry KEY=VALUE (repeatable).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Environment variable KEY=VALUE, also in `env` (repeatable)."),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file", help="Dotenv file of environment variables (default: .env if present)."
        ),
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", "-s", help="Secret KEY=VALUE (repeatable).")
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file", help="Dotenv file of secrets (default: .secrets if present)."
        ),
    ] = None,
    matrix: Annotated[
        list[str] | None,
        typer.Option(
            "--matrix",
            help="Run only matrix legs with KEY:VALUE (repeatable; one key again: any of them).",
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            "-p",
            min=1,
            help="Jobs running at once (default: 2 × CPU cores + 2).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document at the end, nothing else.")
    ] = False,
    keep_workspaces: Annotated[
        bool, typer.Option("--keep-workspaces", help="Keep each job's workspace after the run.")
    ] = False,
    list_jobs: Annotated[
        bool, typer.Option("--list", "-l", help="List the jobs by stage; run nothing.")
    ] = False,
    dryrun: Annotated[
        bool,
        typer.Option("--dryrun", "-n", help="Plan and print what would run; run, record nothing."),
    ] = False,
    graph: Annotated[
        bool, typer.Option("--graph", "-g", help="Print the job graph; run nothing.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Use only cached actions (see `stageline actions pull`); $STAGELINE_OFFLINE=1.",
        ),
    ] = False,
    executor: ExecutorName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run workflows locally, job by job, as GitHub would; every run is recorded."""
    import json

    from stageline.app import runs
    from stageline.cli.records import run_document
    from stageline.engine.setup import RunOptions, parse_matrix, parse_pairs

    if offline:
        from stageline.runner.actions.remote import set_offline

        set_offline()
    options = RunOptions(
        cwd=Path.cwd(),
        workflow=workflow,
        jobs=list(job or []),
        event=event,
        event_path=eventpath,
        ref=ref,
        actor=actor,
        inputs=parse_pairs(input or [], "--input"),
        vars=parse_pairs(var or [], "--var"),
        env=parse_pairs(env or [], "--env"),
        env_file=env_file,
        secrets=parse_pairs(secret or [], "--secret"),
        secret_file=secret_file,
        matrix=parse_matrix(matrix or []),
        keep_workspaces=keep_workspaces,
        workflows=workflows,
    )
    if list_jobs:
        print_listing(runs.list_jobs(options))
        return
    if graph:
        print_graphs(runs.workflows(options))
        return
    prepared = runs.prepare(options)
    print_notes(prepared)
    if dryrun:
        print_plans(prepared)
        return
    finished = runs.start(
        prepared,
        parallel=parallel,
        observer_for=observers(prepared, json_output=json_output),
        prompt=not json_output,
        executor=executor_name(executor),
        database_url=database_url,
    )
    if json_output:
        documents = [run_document(d) for d in finished.runs]
        document = documents[0] if len(documents) == 1 else {"runs": documents}
        print(json.dumps(document, indent=2))
    else:
        print_log_hints(finished.runs)
    if finished.exit_code:
        raise typer.Exit(finished.exit_code)


def print_notes(prepared: Prepared) -> None:
    """What was decided for each workflow file (to stderr, before the runs start)."""
    for note in prepared.notes:
        print(note, file=sys.stderr, flush=True)


def print_listing(rows: list[ListedJob]) -> None:
    """`--list` as act's `-l` prints it: one row per job, by stage, in aligned columns."""
    table = [["Stage", "Job ID", "Job name", "Workflow name", "Workflow file", "Events"]]
    for row in rows:
        events = ",".join(row.events)
        table.append([str(row.stage), row.job_id, row.name, row.workflow, row.path, events])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def print_graphs(workflows: list[Workflow]) -> None:
    """`--graph`: each workflow's job graph, as `stageline graph` draws it."""
    from stageline.cli.graph import called_workflows
    from stageline.workflow import graph as graphs

    for workflow in workflows:
        if len(workflows) > 1:
            print(f"{workflow.path}:")
        callees = called_workflows(workflow, Path.cwd())
        sys.stdout.write(graphs.to_text(graphs.job_graph(workflow, callees=callees)))


def print_plans(prepared: Prepared) -> None:
    """`--dryrun`: each run's jobs (matrix legs expanded) and steps, stage by stage
    (numbered from 1, as `stageline graph` numbers them)."""
    from stageline.workflow.graph import layers, through_calls

    for spec in prepared.specs:
        plan = spec.plan
        named = f" ({plan.workflow_name})" if plan.workflow_name != plan.workflow_path else ""
        print(f"{plan.workflow_path}{named}: would run on {plan.event.name}")
        needs = {job.job_id: list(job.needs) for job in plan.jobs}
        for stage, job_ids in enumerate(layers(through_calls(needs)), start=1):
            print(f"  stage {stage}")
            for job in (j for j in plan.jobs if j.job_id in job_ids):
                later = " (matrix from needs, expanded when they are done)"
                print(f"    {job.name}{later if job.deferred_matrix is not None else ''}")
                for step in job.steps:
                    print(f"      - {step.display_name}")


def print_log_hints(details: list[RunDetail]) -> None:
    for detail in details:
        print(f"logs: {detail.run.log_dir}  (stageline logs {detail.run.id})", file=sys.stderr)


def observers(prepared: Prepared, *, json_output: bool = False) -> ObserverFor:
    """A run's terminal view: none for `--json`; the live view on a terminal when one run
    runs; else lines on stdout (prefixed with the run when several run)."""
    from stageline.engine.lineprinter import LinePrinter

    several = len(prepared.specs) > 1

    def observer_for(spec: RunSpec) -> Observer | None:
        if json_output:
            return None
        printer = LinePrinter(sys.stdout, prefix_run=several)
        if several or not _may_be_terminal():
            return printer
        from rich.console import Console

        from stageline.cli.live import make_observer

        return make_observer(Console(), prepared.specs[0].plan, fallback=printer)

    return observer_for
