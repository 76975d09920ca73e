"""The `stageline` command: Typer app, one module per command group.

Command modules import only Typer at module level and load everything heavy
inside the command body, so `stageline --help` stays fast. `main()` turns every
`StagelineError` into its rendered message and exit code 1 (a traceback only
with STAGELINE_DEBUG=1).

`stageline run` and `stageline validate` are the commands users wait on: a plain
command line of theirs is parsed by `cli.fastargs` and runs without loading Typer
(~40 ms) or letting it build a pydantic validator per parameter (~0.15 s). Anything
else goes to Typer as usual.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from stageline.cli import fastargs
from stageline.errors import StagelineError

if TYPE_CHECKING:
    import typer

    app: typer.Typer


def _exit_with(code: object) -> None:
    """A command may return its exit code instead of raising `typer.Exit`."""
    import typer

    if isinstance(code, int) and code:
        raise typer.Exit(code)


def _may_be_terminal() -> bool:
    """Whether Rich could take stdout for a terminal (as `cli.running` decides)."""
    return sys.stdout.isatty() or any(v in os.environ for v in ("FORCE_COLOR", "TTY_COMPATIBLE"))


def _build_app() -> typer.Typer:
    import typer

    from stageline.cli import (
        actions,
        approvals,
        cancel,
        demo,
        deploys,
        doctor,
        graph,
        hook,
        lint,
        metrics,
        records,
        resume,
        run,
        secrets,
        server,
        validate,
        worker,
        workers,
    )

    app = typer.Typer(
        name="stageline",
        help="Run GitHub Actions workflows as multi-stage pipelines: build, test, deploy, approve.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        result_callback=_exit_with,
        # Rich's help (boxes, colours) costs ~0.1 s to import and render: for people at
        # a terminal; a pipe, a file or a test gets Click's plain text of the same help.
        rich_markup_mode="rich" if _may_be_terminal() else None,
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
    app.command("cancel")(cancel.cancel)
    app.command("deployments")(deploys.deployments)
    app.command("environments")(deploys.environments)
    app.command("rollback")(deploys.rollback)
    app.add_typer(actions.app, name="actions")
    app.command("doctor")(doctor.doctor)
    app.command("serve")(server.serve)
    app.add_typer(server.repo_app, name="repo")
    app.add_typer(server.user_app, name="user")
    app.add_typer(server.token_app, name="token")
    app.command("workers")(workers.workers)
    app.add_typer(hook.app, name="hook")
    app.command("worker")(worker.worker)
    app.add_typer(secrets.app, name="secret")
    return app


def __getattr__(name: str) -> Any:
    """`app`, the Typer application, built on first use: `stageline run`'s fast path
    (`cli.fastargs`) does without it and without the other commands' modules."""
    if name == "app":
        built = globals()["app"] = _build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fast_path() -> None:
    """Run a plain `stageline run` or `stageline validate` command line without Typer
    (`cli.fastargs`) and exit; return when Typer must take the command line."""
    command = fastargs.COMMANDS.get(sys.argv[1] if len(sys.argv) > 1 else "")
    values = fastargs.parse(command, sys.argv[2:]) if command is not None else None
    if values is None:
        return
    try:
        if command is fastargs.RUN:
            from stageline.cli.running import run_workflows

            code = run_workflows(**values)
        else:
            from stageline.cli.validating import validate_paths

            code = validate_paths(list(values["paths"]))
    except KeyboardInterrupt:  # as Typer: exit 130
        sys.exit(130)
    except EOFError:  # as Typer: "Aborted!", exit 1
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # as Typer: a closed stdout ends the command quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (flushed at exit, never closed)
        sys.exit(1)
    sys.exit(code)


def main() -> None:
    """Console-script entry point.

    Click's standalone mode handles usage errors (exit 2) and Ctrl-C; what reaches
    us is ours: a `StagelineError` becomes its message and exit code 1.
    """
    from stageline.runner.workroots import reap_left

    reap_left()  # step scripts (with their secrets) a killed run left on tmpfs
    try:
        _fast_path()
        (globals().get("app") or __getattr__("app"))()
    except StagelineError as err:
        if os.environ.get("STAGELINE_DEBUG"):
            raise
        print(str(err), file=sys.stderr)
        sys.exit(1)
