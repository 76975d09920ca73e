"""The workflow as written: plain dataclasses with source positions.

This is what the loader produces and validation checks. Expressions are kept
as the strings the author wrote (``${{ ... }}`` included); nothing here is
evaluated. `positions` on each node maps a YAML key (as written, e.g.
``"timeout-minutes"``) to the position of its *value*, so later stages
(compile, lint, runtime errors) can point at the exact place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stageline.errors import Diagnostic, Position

#: A scalar as GitHub accepts it for env values, `with:` inputs, outputs:
#: strings, numbers and booleans; expressions stay strings.
Scalar = str | int | float | bool | None


@dataclass(slots=True)
class Node:
    """Base of every spec node: where it starts and where each key's value is."""

    pos: Position
    positions: dict[str, Position] = field(default_factory=dict, kw_only=True)

    def at(self, key: str) -> Position:
        """The position of `key`'s value, or the node's own position."""
        return self.positions.get(key, self.pos)


@dataclass(slots=True)
class RunDefaults(Node):
    """`defaults.run`: applies to every `run:` step below it."""

    shell: str | None = None
    working_directory: str | None = None


@dataclass(slots=True)
class Step(Node):
    """One step. Exactly one of `run` and `uses` is set in a valid workflow."""

    index: int = 0
    id: str | None = None
    name: str | None = None
    if_: str | None = None
    run: str | None = None
    shell: str | None = None
    uses: str | None = None
    with_: dict[str, Scalar] = field(default_factory=dict)
    env: dict[str, Scalar] | str = field(default_factory=dict)
    working_directory: str | None = None
    continue_on_error: bool | str = False
    timeout_minutes: float | str | None = None


@dataclass(slots=True)
class EnvironmentRef(Node):
    """`environment:` of a job: a name (may be an expression) and optional url."""

    name: str = ""
    url: str | None = None


@dataclass(slots=True)
class Concurrency(Node):
    """`concurrency:` at workflow or job level."""

    group: str = ""
    cancel_in_progress: bool | str = False


@dataclass(slots=True)
class Strategy(Node):
    """`strategy:`. `matrix` is the raw mapping (or an expression string such as
    ``${{ fromJSON(needs.setup.outputs.matrix) }}``); see `workflow.matrix`."""

    matrix: dict[str, Any] | str | None = None
    fail_fast: bool | str = True
    max_parallel: int | str | None = None


@dataclass(slots=True)
class Job(Node):
    """One job under `jobs:`. `id` is its key."""

    id: str = ""
    name: str | None = None
    needs: list[str] = field(default_factory=list)
    if_: str | None = None
    runs_on: Any = None
    environment: EnvironmentRef | None = None
    env: dict[str, Scalar] | str = field(default_factory=dict)
    defaults: RunDefaults | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    timeout_minutes: float | str | None = None
    continue_on_error: bool | str = False
    strategy: Strategy | None = None
    services: dict[str, Any] = field(default_factory=dict)
    container: Any = None
    concurrency: Concurrency | None = None
    permissions: Any = None
    steps: list[Step] = field(default_factory=list)
    #: `uses:` at job level (a reusable workflow call), with its `with:` and `secrets:`
    #: (`"inherit"` or a mapping); `workflow.calls` checks them against the callee.
    uses: str | None = None
    with_: dict[str, Scalar] | str = field(default_factory=dict)
    secrets: dict[str, str] | str | None = None


@dataclass(slots=True)
class Trigger(Node):
    """One event under `on:` with its filters (all optional).

    `config` keeps the whole mapping as written for the event-specific keys
    (`types`, `inputs` of workflow_dispatch/workflow_call, `cron` list of schedule).
    """

    event: str = ""
    branches: list[str] | None = None
    branches_ignore: list[str] | None = None
    tags: list[str] | None = None
    tags_ignore: list[str] | None = None
    paths: list[str] | None = None
    paths_ignore: list[str] | None = None
    types: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Workflow(Node):
    """A whole workflow file. `jobs` keeps file order (which is also display order)."""

    path: str = ""
    name: str | None = None
    run_name: str | None = None
    on: dict[str, Trigger] = field(default_factory=dict)
    permissions: Any = None
    env: dict[str, Scalar] = field(default_factory=dict)
    defaults: RunDefaults | None = None
    concurrency: Concurrency | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    #: Warnings found while loading (keys we accept but cannot honour yet, ...).
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.name or self.path
