"""`stageline run`: run the repository's workflows that match an event, here, now.

Its options, as Typer sees them (`--help`, unusual command lines); a plain command line
skips Typer (`cli.fastargs`, checked against these declarations by the tests) and goes
straight to `cli.running.run_workflows`, which does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli.options import DatabaseUrl, ExecutorName


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
) -> int:
    """Run workflows locally, job by job, as GitHub would; every run is recorded."""
    from stageline.cli.running import run_workflows

    return run_workflows(
        workflow=workflow,
        job=job or (),
        event=event,
        eventpath=eventpath,
        workflows=workflows,
        ref=ref,
        actor=actor,
        input=input or (),
        var=var or (),
        env=env or (),
        env_file=env_file,
        secret=secret or (),
        secret_file=secret_file,
        matrix=matrix or (),
        parallel=parallel,
        json_output=json_output,
        keep_workspaces=keep_workspaces,
        list_jobs=list_jobs,
        dryrun=dryrun,
        graph=graph,
        offline=offline,
        executor=executor,
        database_url=database_url,
    )
