"""What `stageline run` does, without Typer (its options are declared in `cli.run`).

Exit code: 0 when every run succeeded, 1 when one did not (or nothing could
start: no matching workflow, an invalid file, an action we cannot run), 130/143
when Ctrl-C/SIGTERM cancelled the run (its record is complete all the same).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stageline.app.runs import ObserverFor
    from stageline.engine.events import Observer
    from stageline.engine.scheduler import RunSpec
    from stageline.engine.setup import ListedJob, Prepared
    from stageline.store import RunDetail
    from stageline.workflow.model import Workflow


def _may_be_terminal() -> bool:
    """Whether Rich could take stdout for a terminal (it alone decides; off a terminal,
    without its overrides set, the line printer is used and Rich is not loaded)."""
    return sys.stdout.isatty() or any(v in os.environ for v in ("FORCE_COLOR", "TTY_COMPATIBLE"))


def run_workflows(
    workflow: str | None = None,
    job: Sequence[str] = (),
    event: str | None = None,
    eventpath: Path | None = None,
    workflows: Path | None = None,
    ref: str | None = None,
    actor: str | None = None,
    input: Sequence[str] = (),
    var: Sequence[str] = (),
    env: Sequence[str] = (),
    env_file: Path | None = None,
    secret: Sequence[str] = (),
    secret_file: Path | None = None,
    matrix: Sequence[str] = (),
    parallel: int | None = None,
    json_output: bool = False,
    keep_workspaces: bool = False,
    list_jobs: bool = False,
    dryrun: bool = False,
    graph: bool = False,
    offline: bool = False,
    executor: str | None = None,
    database_url: str | None = None,
) -> int:
    """`stageline run` (see `cli.run`); returns the exit code."""
    import json

    from stageline.app import runs
    from stageline.cli.documents import run_document
    from stageline.engine.setup import RunOptions, parse_matrix, parse_pairs

    if offline:
        from stageline.runner.actions.remote import set_offline

        set_offline()
    options = RunOptions(
        cwd=Path.cwd(),
        workflow=workflow,
        jobs=list(job),
        event=event,
        event_path=eventpath,
        ref=ref,
        actor=actor,
        inputs=parse_pairs(list(input), "--input"),
        vars=parse_pairs(list(var), "--var"),
        env=parse_pairs(list(env), "--env"),
        env_file=env_file,
        secrets=parse_pairs(list(secret), "--secret"),
        secret_file=secret_file,
        matrix=parse_matrix(list(matrix)),
        keep_workspaces=keep_workspaces,
        workflows=workflows,
    )
    if list_jobs:
        print_listing(runs.list_jobs(options))
        return 0
    if graph:
        print_graphs(runs.workflows(options))
        return 0
    prepared = runs.prepare(options)
    print_notes(prepared)
    if dryrun:
        print_plans(prepared)
        return 0
    finished = runs.start(
        prepared,
        parallel=parallel,
        observer_for=observers(prepared, json_output=json_output),
        prompt=not json_output,
        executor=executor,
        database_url=database_url,
    )
    if json_output:
        documents = [run_document(d) for d in finished.runs]
        document = documents[0] if len(documents) == 1 else {"runs": documents}
        print(json.dumps(document, indent=2))
    else:
        print_log_hints(finished.runs)
    return finished.exit_code


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
