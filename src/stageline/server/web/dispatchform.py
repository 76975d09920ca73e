"""The typed `workflow_dispatch` form: one field per input the workflow declares under
`on.workflow_dispatch.inputs`, read at the repository's default branch, and the posted
fields typed back by those declarations.

The mirror is fetched first (best effort: a fetch that fails, say a concurrent one,
leaves the form as the mirror last saw it) so a workflow just pushed has its form.
Values are checked here as the run's planning would type them
(`workflow.inputs.typed_values`), so a wrong one comes back in the form rather than
as an event that started nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from stageline.app import repos
from stageline.app.triggers import default_branch
from stageline.errors import RunError, StagelineError
from stageline.workflow.inputs import input_text, typed_values
from stageline.workflow.loader import load_workflow

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow

_DIRS = (".github/workflows", ".stageline/workflows")
#: A field's name in the posted form: `input.<name>`.
PREFIX = "input."


@dataclass(frozen=True, slots=True)
class Declared:
    """A dispatchable workflow: its file and the inputs it declares."""

    path: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InputField:
    """One input as the form shows it; `value` is text (a boolean's `true`/`false`)."""

    name: str
    kind: str
    description: str
    required: bool
    value: str
    options: list[str]


def _show(mirror: str, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=mirror, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RunError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def declared(server: ServerData, repo: RepoRow, workflow: str) -> Declared:
    """`workflow` (a file, a file name or its stem) at the default branch and its
    `workflow_dispatch` inputs. Raises StagelineError when it is not there, does not
    load, or does not run on `workflow_dispatch`."""
    branch = default_branch(repo)
    if not branch:
        raise RunError(f"{repo.name} has no default branch")
    with suppress(StagelineError):  # else the mirror as last fetched
        repos.fetch(server, repo, branch)
    files = _show(repo.mirror_path, "ls-tree", "-r", "--name-only", branch, "--", *_DIRS)
    found = [
        p
        for p in files.splitlines()
        if p.endswith((".yml", ".yaml"))
        and workflow in (p, PurePosixPath(p).name, PurePosixPath(p).stem)
    ]
    if not found:
        raise RunError(f"{repo.name}: no workflow {workflow!r} on {branch}")
    path = found[0]
    loaded = load_workflow(path, _show(repo.mirror_path, "show", f"{branch}:{path}"))
    trigger = loaded.on.get("workflow_dispatch")
    if trigger is None:
        raise RunError(f"{path} does not run on workflow_dispatch")
    spec = trigger.config.get("inputs")
    return Declared(path, spec if isinstance(spec, Mapping) else {})


def fields(spec: Declared, given: Mapping[str, str] | None = None) -> list[InputField]:
    """The form's fields, filled with `given` (what was posted) or the defaults."""
    out: list[InputField] = []
    for name, raw in spec.inputs.items():
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        kind = str(config.get("type") or "string")
        default = config.get("default")
        value = given[name] if given and name in given else input_text(default)
        out.append(
            InputField(
                name=str(name),
                kind=kind,
                description=str(config.get("description") or ""),
                required=bool(config.get("required")),
                value=value,
                options=[input_text(o) for o in config.get("options") or []],
            )
        )
    return out


def posted(spec: Declared, form: Mapping[str, str]) -> dict[str, str]:
    """The declared inputs from the posted `form`, as text: an unchecked boolean is
    `false`, an empty field is left out (its default applies)."""
    given: dict[str, str] = {}
    for name, raw in spec.inputs.items():
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        value = form.get(PREFIX + str(name), "")
        if config.get("type") == "boolean":
            given[str(name)] = "true" if value == "true" else "false"
        elif value.strip():
            given[str(name)] = value.strip()
    return given


def typed(spec: Declared, given: Mapping[str, str]) -> dict[str, str]:
    """`given` checked against the declarations (required inputs, each value's type) and
    over the defaults, as the text `app.triggers.dispatch` takes. Raises RunError."""
    for name, raw in spec.inputs.items():
        config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if config.get("required") and config.get("default") is None and name not in given:
            raise RunError(f"{spec.path}: input {name!r} is required")
    values = typed_values(spec.inputs, given, spec.path)
    return {name: input_text(value) for name, value in values.items()}


__all__ = ["PREFIX", "Declared", "InputField", "declared", "fields", "posted", "typed"]
