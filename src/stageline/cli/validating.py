"""What `stageline validate [PATH...]` does: check workflow files without running them
(without Typer: its argument is declared in `cli.validate`).

Diagnostics (errors and warnings, ``path:line:col: severity: message`` plus a hint)
go to stderr, one ``path: OK`` line per valid file to stdout. The `.stageline.yml` of
each repository the workflows belong to is checked too, with the same positioned errors
`run` would stop on. Exit code 0 when every file is valid, 1 otherwise, 2 when the paths
themselves are wrong.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from stageline.workflow.model import Workflow


def validate_paths(paths: list[Path]) -> int:
    """`stageline validate` (see `cli.validate`); returns the exit code."""
    from stageline.errors import StagelineError, WorkflowError
    from stageline.workflow import load_workflow

    try:
        files = _files(paths)
    except OSError as err:
        print(f"stageline validate: error: {err}", file=sys.stderr)
        return 2
    except _UsageError as err:
        print(f"stageline validate: error: {err}", file=sys.stderr)
        return 2
    failed = 0
    for file in files:
        shown = _shown(file)
        try:
            workflow = load_workflow(shown)
        except WorkflowError as err:
            failed += 1
            for diagnostic in err.diagnostics:
                print(diagnostic.render(), file=sys.stderr)
            continue
        except StagelineError as err:
            failed += 1
            print(str(err), file=sys.stderr)
            continue
        for warning in workflow.warnings:
            print(warning.render(), file=sys.stderr)
        if _container_actions(workflow, file) | _calls(workflow, file):
            failed += 1
            continue
        jobs = len(workflow.jobs)
        extra = f", {len(workflow.warnings)} warning(s)" if workflow.warnings else ""
        print(f"{shown}: OK ({jobs} job{'s' if jobs != 1 else ''}{extra})")
    configs = _configs(files)
    bad_configs = sum(not _config_ok(config) for config in configs)
    if failed:
        print(f"{failed} of {len(files)} workflow file(s) invalid", file=sys.stderr)
    return 1 if failed or bad_configs else 0


def _configs(files: list[Path]) -> list[Path]:
    """The `.stageline.yml` files of the repositories `files` belong to, in order."""
    from stageline.deploy.config import CONFIG_FILE

    found: dict[Path, None] = {}
    for file in files:
        root = _repository_root(file.resolve().parent)
        if root is not None and (root / CONFIG_FILE).is_file():
            found[root / CONFIG_FILE] = None
    return list(found)


def _config_ok(path: Path) -> bool:
    """Check one `.stageline.yml`, reporting its errors; whether it is valid."""
    from stageline.deploy.config import load_config_file
    from stageline.errors import StagelineError, WorkflowError

    shown = _shown(path)
    try:
        load_config_file(shown)
    except WorkflowError as err:
        for diagnostic in err.diagnostics:
            print(diagnostic.render(), file=sys.stderr)
        return False
    except StagelineError as err:
        print(str(err), file=sys.stderr)
        return False
    print(f"{shown}: OK")
    return True


def _container_actions(workflow: Workflow, file: Path) -> bool:
    """Report the steps that use a container action seen without a network."""
    from stageline.errors import Diagnostic

    steps = [s for job in workflow.jobs.values() for s in job.steps if s.uses]
    if not steps:
        return False
    from stageline.runner.actions import container_problem

    root = _repository_root(file.resolve().parent) or file.resolve().parent
    found = False
    for step in steps:
        assert step.uses is not None
        actions = [str(root / ".stageline" / "actions")]
        problem = container_problem(step.uses, str(root), actions)
        if problem:
            found = True
            print(Diagnostic(step.pos, problem).render(), file=sys.stderr)
    return found


def _calls(workflow: Workflow, file: Path) -> bool:
    """Report the faults of the jobs that call a reusable workflow of the repository."""
    import functools

    from stageline.engine.setup import fetch_workflow
    from stageline.workflow.calls import check_calls

    root = _repository_root(file.resolve().parent) or file.resolve().parent
    cached = functools.partial(fetch_workflow, cache_only=True)  # validate never fetches
    found = check_calls(workflow, Path(_shown(root)), cached)
    for diagnostic in found:
        print(diagnostic.render(), file=sys.stderr)
    return any(d.severity == "error" for d in found)


def _files(paths: list[Path]) -> list[Path]:
    """The workflow files meant by the arguments (usage errors exit 2)."""
    from stageline.workflow import find_workflows

    if not paths:
        root = _repository_root(Path.cwd())
        if root is None:
            _usage("not inside a git repository; give the workflow files to validate")
        workflows = find_workflows(root)
        if not workflows:
            _usage(f"no workflow files in {root}/.github/workflows or .stageline/workflows")
        return workflows
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = find_workflows(path) or sorted(
                p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file()
            )
            if not found:
                _usage(f"no workflow files in directory {path}")
            files.extend(found)
        else:
            _usage(f"no such file or directory: {path}")
    return files


def _repository_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _shown(path: Path) -> str:
    """The path as users want it in messages: relative to the current directory when
    it is below it."""
    try:
        return os.path.relpath(path) if path.is_absolute() and _below_cwd(path) else str(path)
    except ValueError:
        return str(path)


def _below_cwd(path: Path) -> bool:
    return path.resolve().is_relative_to(Path.cwd().resolve())


class _UsageError(Exception):
    """The paths given (or the directory we stand in) name no workflow files."""


def _usage(message: str) -> NoReturn:
    raise _UsageError(message)
