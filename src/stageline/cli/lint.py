"""`stageline lint [PATH]`: warn about multi-stage delivery pitfalls (see deploy.lint) and
security mistakes (see deploy.security)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stageline.errors import Diagnostic


def lint(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A workflow file, a folder of workflow files, or a repository (its "
            ".github/workflows and .stageline/workflows). Default: the current repository.",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Report pitfalls: untested production deploys, ignored test failures, environments
    without monitor, rollback or approval, jobs that build, test and deploy at once; and
    security mistakes: script injection, pwn-request checkouts, exposed secrets, unpinned
    actions in jobs with secrets, excessive or missing permissions."""
    import os

    from stageline.deploy.config import configured_server, load_config
    from stageline.deploy.deployments import environment_warnings
    from stageline.deploy.lint import lint_workflow
    from stageline.deploy.security import security_findings
    from stageline.workflow import load_workflow

    root, files = _targets(path or Path.cwd())
    config = load_config(_shown(root))
    server = configured_server(config, os.environ)
    findings = 0
    for file in files:
        workflow = load_workflow(_shown(file))
        found = lint_workflow(workflow, config, server=server) + security_findings(workflow)
        for diagnostic in sorted(found, key=_where):
            print(diagnostic.render())
            findings += 1
    for warning in environment_warnings(root):  # a deploy its process left unfinished
        print(warning)
        findings += 1
    sys.stdout.flush()  # findings before the summary when both go to one terminal
    summary = f"{findings} warning(s)" if findings else "no pitfalls found"
    print(f"{summary} in {len(files)} workflow(s)", file=sys.stderr)
    return 1 if findings else 0


def _where(diagnostic: Diagnostic) -> tuple[int, int]:
    position = diagnostic.position
    return (position.line, position.col) if position else (0, 0)


def _targets(path: Path) -> tuple[Path, list[Path]]:
    """The repository root (where .stageline.yml lives) and the workflow files to lint."""
    from stageline.errors import ConfigError

    if path.is_file():
        start = path.resolve().parent
        return _root(start), [path]
    if not path.is_dir():
        raise ConfigError(f"no such file or directory: {path}")
    root = _root(path.resolve())
    if root == path.resolve():
        workflows = root / ".github" / "workflows", root / ".stageline" / "workflows"
        files = [file for folder in workflows for file in _yaml_files(folder)]
    else:
        files = _yaml_files(path)
    if not files:
        raise ConfigError(
            f"no workflow found in {path}",
            hint="give a workflow file, or a repository with .github/workflows",
        )
    return root, files


def _shown(file: Path) -> Path:
    """`file` relative to the current directory when it is below it (as findings show it)."""
    try:
        return file.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return file


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix in (".yml", ".yaml") and f.is_file())


def _root(start: Path) -> Path:
    """The nearest directory at or above `start` holding .git or .stageline.yml."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / ".stageline.yml").exists():
            return folder
    return start
