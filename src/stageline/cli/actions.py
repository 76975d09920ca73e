"""`stageline actions pull [WORKFLOW...]`: fill the action cache so later runs work offline.

Every remote `uses:` of the workflows' steps is fetched afresh (its tag or branch moved
to where the server has it now), and so is every remote action used inside a composite
action, fetched or local, every remote reusable workflow the workflows call (at any
depth) and every action the called workflows use. One line per action or workflow goes
to stdout (``uses sha url``); problems go to stderr, one line each, and make the exit
code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stageline.workflow.model import Workflow

app = typer.Typer(help="Remote actions: fetch them into the action cache.", no_args_is_help=True)


@app.command("pull")
def pull(
    workflows: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Workflow files. Default: every workflow of the repository you stand in.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fetch every remote action the workflows use (nested ones too) into the cache."""
    from stageline.errors import StagelineError, WorkflowError
    from stageline.runner.actions import pull as pull_actions
    from stageline.runner.actions import remote
    from stageline.workflow import find_workflows, load_workflow

    if remote.offline():
        print(
            "stageline actions pull: error: it fetches, and Stageline is offline "
            "(unset STAGELINE_OFFLINE)",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    root = _repository_root(Path.cwd())
    files = list(workflows or [])
    if not files:
        files = find_workflows(root) if root else []
        if not files:
            print(
                "stageline actions pull: error: no workflow files here; give their paths",
                file=sys.stderr,
            )
            raise typer.Exit(2)
    uses: list[str] = []
    failed = False
    base = root or Path.cwd()
    for file in files:
        try:
            workflow = load_workflow(file)
        except WorkflowError as err:
            failed = True
            for diagnostic in err.diagnostics:
                print(diagnostic.render(), file=sys.stderr)
            continue
        except StagelineError as err:
            failed = True
            print(str(err), file=sys.stderr)
            continue
        called, problems = _pull_callees(workflow, base)
        failed = failed or bool(problems)
        for problem in problems:
            print(problem, file=sys.stderr)
        for flow in [workflow, *called]:
            for job in flow.jobs.values():
                uses.extend(s.uses for s in job.steps if s.uses and "${{" not in s.uses)
    fetched, problems = pull_actions(uses, str(base), [str(base / ".stageline" / "actions")])
    for found in fetched:
        print(f"{found.uses} {found.sha} {found.url}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if fetched:
        print(f"{len(fetched)} action(s) in {remote.cache_root()}", file=sys.stderr)
    raise typer.Exit(1 if failed or problems else 0)


def _pull_callees(workflow: Workflow, base: Path) -> tuple[list[Workflow], list[str]]:
    """Fetch afresh the remote workflows `workflow` calls (one line each on stdout):
    every called workflow, and the problems met."""
    from stageline.engine.setup import fetch_workflow
    from stageline.runner.actions import remote
    from stageline.workflow.calls import load_callees

    def fetch(uses: str) -> Path | str | None:
        found = fetch_workflow(uses, refresh=True)
        ref = remote.parse(uses)
        if isinstance(found, Path) and ref is not None:
            tree = found.parents[len(Path(ref.sub).parts) - 1]  # the cache's OWNER/REPO@SHA
            sha = tree.name.rpartition("@")[2]
            print(f"{uses} {sha} {ref.url}")
        return found

    callees = load_callees(workflow, base, fetch)
    problems = [d.render() for d in callees.faults if d.severity == "error"]
    return list(callees.workflows.values()), problems


def _repository_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None
