"""The `stageline` command: Typer app, one module per command group.

Command modules import only Typer at module level and load everything heavy
inside the command body, so `stageline --help` stays fast. `main()` turns every
`StagelineError` into its rendered message and exit code 1 (a traceback only
with STAGELINE_DEBUG=1).
"""

from __future__ import annotations

import os
import sys

import typer

from stageline.cli import (
    approvals,
    demo,
    deploys,
    graph,
    lint,
    metrics,
    records,
    resume,
    run,
    validate,
)
from stageline.errors import StagelineError


def _exit_with(code: object) -> None:
    """A command may return its exit code instead of raising `typer.Exit`."""
    if isinstance(code, int) and code:
        raise typer.Exit(code)


app = typer.Typer(
    name="stageline",
    help="Run GitHub Actions workflows as multi-stage pipelines: build, test, deploy, approve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    result_callback=_exit_with,
)


app.command("validate")(validate.validate)
app.command("graph")(graph.graph)
app.command("run")(run.run)
app.command("runs")(records.runs)
app.command("show")(records.show)
app.command("logs")(records.logs)
app.command("demo")(demo.demo)
app.command("lint")(lint.lint)
app.command("metrics")(metrics.metrics)
app.command("approve")(approvals.approve)
app.command("reject")(approvals.reject)
app.command("resume")(resume.resume)
app.command("deployments")(deploys.deployments)
app.command("environments")(deploys.environments)
app.command("rollback")(deploys.rollback)


def main() -> None:
    """Console-script entry point.

    Click's standalone mode handles usage errors (exit 2) and Ctrl-C; what reaches
    us is ours: a `StagelineError` becomes its message and exit code 1.
    """
    try:
        app()
    except StagelineError as err:
        if os.environ.get("STAGELINE_DEBUG"):
            raise
        print(str(err), file=sys.stderr)
        sys.exit(1)
