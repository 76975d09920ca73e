"""The plan: what the engine schedules and executors run. Plain data only.

A plan is compiled from a `Workflow` and an event (see `plan.compile`). It is
the only thing executors see: no YAML, no ruamel nodes, no callables, so a plan
(or one `PlannedJob`) can cross a process boundary as JSON (`to_dict`/`from_dict`).

Expressions are still strings here: `if:`, `env` values, `with:` inputs and
`run:` scripts are evaluated at run time, when their contexts exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stageline.errors import Position

Scalar = str | int | float | bool | None


@dataclass(slots=True)
class PlannedStep:
    index: int
    id: str | None
    name: str | None
    if_: str | None
    run: str | None
    shell: str | None
    uses: str | None
    with_: dict[str, Scalar]
    env: dict[str, Scalar] | str
    working_directory: str | None
    continue_on_error: bool | str
    timeout_minutes: float | str | None
    position: Position | None = None

    @property
    def display_name(self) -> str:
        """GitHub's default step names: `Run <first line>` / `Run <action>`."""
        if self.name:
            return self.name
        if self.uses:
            return f"Run {self.uses}"
        first = (self.run or "").strip().splitlines()
        return f"Run {first[0]}" if first else f"Step {self.index + 1}"


@dataclass(slots=True)
class PlannedEnvironment:
    name: str
    url: str | None = None


@dataclass(slots=True)
class PlannedCall:
    """The reusable-workflow call a job was inlined from (`jobs.<caller>.uses`, ADR 0010).

    Every job of the callee is planned as an ordinary job named ``<caller> / <job>``
    and carries its call; the engine evaluates `with_` (typed by `inputs`), `secrets`
    and the callee's workflow `env` when the first of them is ready, and the callee's
    `outputs` when the last is done. `key` is the caller's leg (``deploy`` or
    ``deploy.2`` for a matrix of calls) and the prefix of the inlined ids; `job_id` is
    what the caller's dependents name in `needs`. `parent` is the enclosing call of a
    nested one, whose scope (inputs, secrets) the `with:` here is evaluated in.
    """

    job_id: str
    key: str
    name: str
    uses: str
    needs: list[str]
    if_: str | None
    with_: dict[str, Scalar] | str
    secrets: dict[str, str] | str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    env: dict[str, Scalar] | str
    jobs: list[str]
    matrix: dict[str, Any] | None = None
    strategy_index: int = 0
    strategy_total: int = 1
    #: The calling job's `strategy.fail-fast` and `max-parallel`, over its legs.
    fail_fast: bool | str = True
    max_parallel: int | str | None = None
    #: The calling job's `concurrency:`, which its called jobs join.
    concurrency_group: str | None = None
    concurrency_cancel_in_progress: bool | str = False
    parent: PlannedCall | None = None
    position: Position | None = None

    @property
    def prefix(self) -> str:
        """What the ids of its inlined jobs start with."""
        return f"{self.key} / "

    def chain(self) -> list[PlannedCall]:
        """This call and every call enclosing it, innermost first."""
        calls: list[PlannedCall] = []
        call: PlannedCall | None = self
        while call is not None:
            calls.append(call)
            call = call.parent
        return calls


@dataclass(slots=True)
class PlannedJob:
    """One schedulable unit: a job, or one leg of a matrix job.

    `key` is unique in the plan and is what `needs` of *other* planned jobs is
    resolved against through `job_id` (a job that needs a matrix job waits for
    every leg). `deferred_matrix` is set instead of `matrix` when the matrix is
    an expression that can only be expanded once this job's needs are done.
    """

    key: str
    job_id: str
    name: str
    needs: list[str]
    if_: str | None
    runs_on: Any
    env: dict[str, Scalar] | str
    defaults_shell: str | None
    defaults_working_directory: str | None
    outputs: dict[str, str]
    timeout_minutes: float | str | None
    continue_on_error: bool | str
    steps: list[PlannedStep]
    matrix: dict[str, Any] | None = None
    deferred_matrix: dict[str, Any] | str | None = None
    fail_fast: bool | str = True
    max_parallel: int | str | None = None
    strategy_index: int = 0
    strategy_total: int = 1
    environment: PlannedEnvironment | None = None
    concurrency_group: str | None = None
    concurrency_cancel_in_progress: bool | str = False
    services: dict[str, Any] = field(default_factory=dict)
    #: The `job.services` context: each service mapped to one running on the host
    #: (`engine.services`), set before the run starts.
    services_context: dict[str, dict[str, Any]] = field(default_factory=dict)
    container: Any = None
    position: Position | None = None
    #: The call it was inlined from, for a job of a reusable workflow.
    call: PlannedCall | None = None


@dataclass(slots=True)
class Event:
    """The triggering event: what `github.event_name`, `github.ref` etc. come from."""

    name: str = "push"
    ref: str = ""
    sha: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    changed_paths: list[str] | None = None
    actor: str = ""
    repository: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    workflow_name: str
    workflow_path: str
    event: Event
    env: dict[str, Scalar]
    jobs: list[PlannedJob]
    run_name: str | None = None
    concurrency_group: str | None = None
    concurrency_cancel_in_progress: bool | str = False

    def job(self, key: str) -> PlannedJob:
        for job in self.jobs:
            if job.key == key:
                return job
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return plan_from_dict(data)


def _position(data: dict[str, Any] | None) -> Position | None:
    return Position(**data) if data else None


def job_from_dict(data: dict[str, Any]) -> PlannedJob:
    d = dict(data)
    d["steps"] = [
        PlannedStep(**{**s, "position": _position(s.get("position"))}) for s in d["steps"]
    ]
    env = d.get("environment")
    d["environment"] = PlannedEnvironment(**env) if env else None
    d["position"] = _position(d.get("position"))
    d["call"] = call_from_dict(d.get("call"))
    return PlannedJob(**d)


def call_from_dict(data: dict[str, Any] | None) -> PlannedCall | None:
    if not data:
        return None
    d = dict(data)
    d["parent"] = call_from_dict(d.get("parent"))
    d["position"] = _position(d.get("position"))
    return PlannedCall(**d)


def plan_from_dict(data: dict[str, Any]) -> Plan:
    d = dict(data)
    d["event"] = Event(**d["event"])
    d["jobs"] = [job_from_dict(j) for j in d["jobs"]]
    return Plan(**d)
