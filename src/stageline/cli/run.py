"""`stageline run`: run the repository's workflows that match an event, here, now.

Exit code: 0 when every run succeeded, 1 when one did not (or nothing could
start: no matching workflow, an invalid file, an action we cannot run), 130/143
when Ctrl-C/SIGTERM cancelled the run (its record is complete all the same).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stageline.engine.scheduler import RunSpec

_Many = Annotated[list[str] | None, typer.Option(show_default=False)]

#: Actions that never involve delivery (`hmarr/auto-approve-action` records an approval;
#: a local or vendored action may use it inside).
_PLAIN_ACTIONS = frozenset(
    {
        "actions/checkout",
        "actions/upload-artifact",
        "actions/download-artifact",
        "actions/cache",
        "actions/cache/restore",
        "actions/cache/save",
    }
)


def _needs_delivery(specs: Sequence[RunSpec], root: Path) -> bool:
    """Whether the runs need `deploy.wiring` (gates, deployments, auto-approvals,
    notifications): only with a `.stageline.yml`, a job with an `environment`, or an
    action that could approve. Without them its hooks do nothing, and loading them
    costs more than a short run."""
    if (root / ".stageline.yml").exists():
        return True
    for spec in specs:
        for job in spec.plan.jobs:
            if job.environment is not None:
                return True
            for step in job.steps:
                if step.uses and step.uses.split("@")[0].strip().lower() not in _PLAIN_ACTIONS:
                    return True
    return False


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
        str | None, typer.Option("--event", "-e", help="Event name (default: push).")
    ] = None,
    eventpath: Annotated[
        Path | None,
        typer.Option("--eventpath", help="JSON event payload (github.event).", dir_okay=False),
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
        typer.Option("--input", help="workflow_dispatch input KEY=VALUE (repeatable)."),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="`vars` entry KEY=VALUE (repeatable).")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="Extra environment variable KEY=VALUE (repeatable)."),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file", help="Dotenv file of environment variables (default: .env if present)."
        ),
    ] = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Secret KEY=VALUE (repeatable).")
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file", help="Dotenv file of secrets (default: .secrets if present)."
        ),
    ] = None,
    matrix: Annotated[
        list[str] | None,
        typer.Option("--matrix", help="Run only matrix legs with KEY:VALUE (repeatable)."),
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
) -> None:
    """Run workflows locally, job by job, as GitHub would; every run is recorded."""
    import asyncio
    import json

    from stageline.cli.records import run_document
    from stageline.engine.events import Observer
    from stageline.engine.execute import execute
    from stageline.engine.lineprinter import LinePrinter
    from stageline.engine.scheduler import default_parallel
    from stageline.engine.setup import RunOptions, parse_pairs, prepare
    from stageline.executors import get_executor
    from stageline.store import get_run, open_store, store_home

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
        matrix=parse_pairs(matrix or [], "--matrix", ":"),
        keep_workspaces=keep_workspaces,
    )
    prepared = prepare(options)
    for note in prepared.notes:
        print(note, file=sys.stderr, flush=True)

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

    with open_store(store_home(prepared.facts.root)) as store:
        executor = get_executor("local")
        hooks = None
        if _needs_delivery(prepared.specs, prepared.facts.root):
            from stageline.deploy.wiring import is_interactive, wire

            interactive = not json_output and is_interactive()
            hooks = wire(
                store, prepared.facts.root, executor, prepared.specs, interactive=interactive
            )
        try:
            execution = asyncio.run(
                execute(
                    prepared.specs,
                    store,
                    executor,
                    parallel=parallel or default_parallel(),
                    observer_for=hooks.observing(observer_for) if hooks else observer_for,
                    gatekeeper=hooks.gatekeeper if hooks else None,
                    after_job=hooks.after_job if hooks else None,
                )
            )
        finally:
            if hooks is not None:
                hooks.close()
        details = [get_run(store, o.run_id) for o in execution.outcomes]
    if json_output:
        documents = [run_document(d) for d in details]
        document = documents[0] if len(documents) == 1 else {"runs": documents}
        print(json.dumps(document, indent=2))
    else:
        for detail in details:
            print(f"logs: {detail.run.log_dir}  (stageline logs {detail.run.id})", file=sys.stderr)
    if execution.exit_code:
        raise typer.Exit(execution.exit_code)
