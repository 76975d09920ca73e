"""`stageline doctor`: what a run of this repository would find on this machine.

The tool cache (filled first, as a job that runs actions would), the versions of the
programs actions need (node, git; java, which setup-java finds in the tool cache) and
the sandbox executor needs (bwrap), and for
each `uses:` of the repository's workflows where it would come from, without fetching;
the actions used inside composite actions it can see are listed too, after their user.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stageline.errors import StagelineError
from stageline.runner import toolcache
from stageline.runner.actions import Resolved, local, resolve
from stageline.runner.toolcache import Entry
from stageline.workflow import find_workflows, load_workflow


@dataclass(frozen=True, slots=True)
class ActionStatus:
    """`source`: built-in, local, vendored, cached or missing; `detail`: the commit of a
    cached action, the directory of a local or vendored one, why a missing one is;
    `used_by`: the composite action whose steps use it, '' for a workflow's step."""

    uses: str
    source: str
    detail: str
    used_by: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    tool_cache: Path
    tools: list[Entry]
    programs: dict[str, str | None]  # name -> version, None when not installed
    actions: list[ActionStatus]
    problems: list[str]  # workflows that could not be read


def doctor(repo_dir: str | Path) -> Report:
    """The report for the repository at `repo_dir` (any folder: no workflows, no actions)."""
    from stageline.app.context import repo_root

    root = repo_root(repo_dir)
    cache = toolcache.ensure_filled()
    uses, problems = _workflow_uses(root)
    vendored = [str(root / ".stageline" / "actions")]
    actions = _statuses(uses, root, vendored)
    programs = {
        "node": _version("node", "--version"),
        "git": _version("git", "--version"),
        "java": _java_version(),
        "bwrap": _version("bwrap", "--version"),  # for --executor sandbox
    }
    return Report(cache, toolcache.entries(cache), programs, actions, problems)


def _workflow_uses(root: Path) -> tuple[list[str], list[str]]:
    uses: dict[str, None] = {}
    problems = []
    for file in find_workflows(root):
        try:
            workflow = load_workflow(file)
        except StagelineError as err:
            problems.append(f"{file}: {str(err).splitlines()[0]}")
            continue
        for job in workflow.jobs.values():
            uses.update((s.uses.strip(), None) for s in job.steps if s.uses)
    return list(uses), problems


def _statuses(uses: list[str], root: Path, vendored: list[str]) -> list[ActionStatus]:
    """Each action once: the workflows' in order, each followed by those its composite
    steps use (depth first; a `./path` inside an action is relative to the repository)."""
    statuses: list[ActionStatus] = []
    seen: set[str] = set()

    def visit(name: str, used_by: str) -> None:
        if name in seen:
            return
        seen.add(name)
        found = resolve(name, str(root), vendored, cache_only=True)
        statuses.append(_status(name, found, used_by))
        if not isinstance(found, str) and found.directory is not None:
            for inner in local.nested_uses(found.directory):
                visit(inner.strip(), name)

    for name in uses:
        visit(name, "")
    return statuses


def _status(uses: str, found: Resolved | str, used_by: str) -> ActionStatus:
    if isinstance(found, str):
        return ActionStatus(uses, "missing", found, used_by)
    if found.builtin is not None:
        return ActionStatus(uses, "built-in", "", used_by)
    if found.sha:
        return ActionStatus(uses, "cached", found.sha, used_by)
    kind = "local" if uses.startswith(("./", "../", "$/")) or uses == "." else "vendored"
    return ActionStatus(uses, kind, found.directory or "", used_by)


def _version(program: str, flag: str) -> str | None:
    path = shutil.which(program)
    if path is None:
        return None
    try:
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1].removeprefix("v") if done.returncode == 0 and words else None


def _java_version() -> str | None:
    """`java -version` writes ``openjdk version "17.0.15" 2025-04-15`` to stderr (Java 8
    knows no ``--version``)."""
    path = shutil.which("java")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "([^"]+)"', done.stderr)
    return found[1] if done.returncode == 0 and found else None


__all__ = ["ActionStatus", "Report", "doctor"]
