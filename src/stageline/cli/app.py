"""The `stageline` command: Typer app, one module per command group.

Command modules import only Typer at module level and load everything heavy
inside the command body, so `stageline --help` stays fast. `main()` turns every
`StagelineError` into its rendered message and exit code 1 (a traceback only
with STAGELINE_DEBUG=1).

`stageline run` is the command users wait on, many times a day: a well-formed
`run` command line is parsed by `parse_run_args` (from the same declarations)
instead of Typer, which builds a pydantic validator for each of its 16
parameters on every call (~0.15 s, a third of a short run). Anything else goes
to Typer as usual.
"""

from __future__ import annotations

import os
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stageline.cli import run
from stageline.errors import StagelineError

if TYPE_CHECKING:
    app: typer.Typer


def _exit_with(code: object) -> None:
    """A command may return its exit code instead of raising `typer.Exit`."""
    if isinstance(code, int) and code:
        raise typer.Exit(code)


def _build_app() -> typer.Typer:
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
    (`parse_run_args`) does without it and without the other commands' modules."""
    if name == "app":
        built = globals()["app"] = _build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_Spec = tuple[str, type, bool, Any]  # (parameter, type, repeatable, Typer's info)


def _run_parameters() -> tuple[dict[str, _Spec], _Spec | None]:
    """`stageline run`'s options by flag, and its argument, from its annotations."""
    options: dict[str, _Spec] = {}
    argument = None
    hints = typing.get_type_hints(run.run, include_extras=True)
    for name, hint in hints.items():
        if name == "return":
            continue
        kind, info = typing.get_args(hint)[:2]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
        many = typing.get_origin(kind) is list
        if many:
            kind = typing.get_args(kind)[0]
        spec = (name, kind, many, info)
        if isinstance(info, typer.models.ArgumentInfo):
            argument = spec
            continue
        first = info.default if isinstance(info.default, str) else None
        flags = [d for d in (first, *info.param_decls) if d and d.startswith("-")]
        for flag in flags or [f"--{name.replace('_', '-')}"]:
            options[flag] = spec
    return options, argument


def parse_run_args(args: list[str]) -> dict[str, Any] | None:
    """The parameters Typer would pass to `run` for `args`, or None when Typer must
    parse them itself (help, completion, anything unusual or invalid: Typer reports
    it). Only plain forms are taken: `--opt value`, `--opt=value`, `-o value`, flags,
    one workflow argument."""
    if any(k.endswith("_COMPLETE") for k in os.environ):
        return None
    options, argument = _run_parameters()
    values: dict[str, Any] = {spec[0]: () if spec[2] else None for spec in options.values()}
    values.update({spec[0]: False for spec in options.values() if spec[1] is bool})
    if argument is not None:
        values[argument[0]] = None
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if argument is None or values[argument[0]] is not None:
                return None
            values[argument[0]] = token
            continue
        flag, eq, text = token.partition("=")
        spec = options.get(flag if flag.startswith("--") else token)
        if spec is None:
            return None
        name, kind, many, info = spec
        if kind is bool:
            if eq:
                return None
            values[name] = True
            continue
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None
            text = rest.pop(0)
        value = _convert(kind, text, info)
        if value is None:
            return None
        values[name] = [*values[name], value] if many else value
    return values


def _convert(kind: type, text: str, info: Any) -> Any:
    """`text` as `kind`, or None where Typer could refuse it."""
    if kind is str:
        return text
    if kind is int:
        try:
            number = int(text)
        except ValueError:
            return None
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        if (low is not None and number < low) or (high is not None and number > high):
            return None
        return number
    if kind is Path:
        refused_dir = not getattr(info, "dir_okay", True) and os.path.isdir(text)
        if not text or getattr(info, "exists", False) or refused_dir:
            return None
        return Path(text)
    return None


def _fast_run() -> bool:
    """Run `stageline run` without Typer's parsing when it can (see module doc); False
    when Typer must take the command line."""
    if sys.argv[1:2] != ["run"]:
        return False
    values = parse_run_args(sys.argv[2:])
    if values is None:
        return False
    try:
        run.run(**values)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except KeyboardInterrupt:  # as Typer: exit 130
        sys.exit(130)
    except EOFError:  # as Typer: "Aborted!", exit 1
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:  # as Typer: a closed stdout ends the command quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (flushed at exit, never closed)
        sys.exit(1)
    sys.exit(0)


def main() -> None:
    """Console-script entry point.

    Click's standalone mode handles usage errors (exit 2) and Ctrl-C; what reaches
    us is ours: a `StagelineError` becomes its message and exit code 1.
    """
    from stageline.runner.workroots import reap_left

    reap_left()  # step scripts (with their secrets) a killed run left on tmpfs
    try:
        _fast_run()
        (globals().get("app") or __getattr__("app"))()
    except StagelineError as err:
        if os.environ.get("STAGELINE_DEBUG"):
            raise
        print(str(err), file=sys.stderr)
        sys.exit(1)
