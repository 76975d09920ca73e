"""`stageline graph [WORKFLOW] --format text|mermaid|dot|json`: print a workflow's job graph."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stageline.workflow.model import Workflow


class GraphFormat(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


def graph(
    workflow: Annotated[
        str | None,
        typer.Argument(
            help="Workflow file, or the file name of one of the repository's workflows. "
            "Default: the repository's only workflow.",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Output format.")
    ] = GraphFormat.text,
) -> None:
    """Print the job graph of a workflow: stages from `needs`, matrix jobs with their legs,
    called workflows' jobs inside their caller."""
    from stageline.workflow import graph as graphs
    from stageline.workflow import load_workflow

    path = resolve_workflow(workflow, Path.cwd())
    spec = load_workflow(path)
    callees = called_workflows(spec, path.resolve().parent)
    render = {
        GraphFormat.text: graphs.to_text,
        GraphFormat.mermaid: graphs.to_mermaid,
        GraphFormat.dot: graphs.to_dot,
        GraphFormat.json: graphs.to_json,
    }[format]
    sys.stdout.write(render(graphs.job_graph(spec, callees=callees)))


def called_workflows(workflow: Workflow, where: Path) -> dict[str, Workflow]:
    """The reusable workflows `workflow` calls, read from the repository `where` is in
    (remote ones only from the action cache: a graph never fetches)."""
    import functools

    from stageline.engine.setup import fetch_workflow
    from stageline.workflow.calls import load_callees

    cached = functools.partial(fetch_workflow, cache_only=True)
    return load_callees(workflow, _root(where), cached).workflows


def resolve_workflow(given: str | None, cwd: Path) -> Path:
    """The workflow file meant by `given` (a path, or a workflow's file name or stem),
    or the repository's only workflow when nothing is given. Paths below `cwd` are
    returned relative to it, as users want them in messages."""
    from stageline.errors import ConfigError
    from stageline.workflow import find_workflows

    if given is not None and Path(given).is_file():
        return Path(given)
    root = _root(cwd)
    found = [_shown(p, cwd) for p in find_workflows(root)]
    if given is not None:
        chosen = [p for p in found if given in (p.name, p.stem)]
        if len(chosen) == 1:
            return chosen[0]
        raise ConfigError(
            f"no workflow file {given!r}",
            hint=_listing(found) if found else "give the path of a workflow file",
        )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            "no workflow found in .github/workflows or .stageline/workflows",
            hint="run inside a repository that has one, or give the workflow's path",
        )
    raise ConfigError(
        f"this repository has {len(found)} workflows; say which one to graph",
        hint=_listing(found),
    )


def _root(cwd: Path) -> Path:
    """The repository `cwd` is in (where `./.github/workflows/x.yml` calls are read)."""
    return next((d for d in (cwd, *cwd.parents) if (d / ".git").exists()), cwd)


def _shown(path: Path, cwd: Path) -> Path:
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path


def _listing(found: list[Path]) -> str:
    return "workflows: " + ", ".join(str(p) for p in found)
