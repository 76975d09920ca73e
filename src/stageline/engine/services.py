"""Services without Docker: a job's `services:` stand for services already running on
this machine, mapped in `.stageline.yml` (`deploy.config.ServiceConfig`, which
the engine sees as a `HostService`).

`resolve_services` runs before a run starts: every service of a job that runs on this
machine must be mapped, and each mapped job gets its `job.services` context
(`PlannedJob.services_context`), shaped as GitHub gives it: `ports` maps each
container port to a host port, both as text; `id` and `network` are empty, there
being no container; `host` (our addition) is where the service listens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from stageline.errors import Diagnostic, Position
from stageline.plan.model import Plan, PlannedJob
from stageline.workflow.model import Workflow

#: The host the hint suggests (`.stageline.yml` defaults to it).
_HINT_HOST = "127.0.0.1"
CONFIG_FILE = ".stageline.yml"


class HostService(Protocol):
    """One mapped service (`deploy.config.ServiceConfig`): exactly one of `port` (the
    service's one port) and `ports` (container port → host port) is set."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def ports(self) -> dict[int, int]: ...


#: The mapped services, read on first need (a run without services loads no configuration).
HostsLoader = Callable[[], Mapping[str, HostService]]


def resolve_services(plan: Plan, workflow: Workflow, hosts: HostsLoader) -> list[Diagnostic]:
    """Set each job's `services_context` from `hosts`; a diagnostic per service that is
    not mapped (or whose ports are not). A `container:` job keeps its services unrun
    and unchecked, as before: its steps would reach them by service name."""
    problems: list[Diagnostic] = []
    for job in plan.jobs:
        if not job.services or job.container is not None:
            continue
        spec = workflow.jobs.get(job.job_id)
        where = spec.at("services") if spec is not None else job.position
        context: dict[str, dict[str, Any]] = {}
        for name, service in job.services.items():
            found = hosts().get(name)
            if found is None:
                problems.append(_unmapped(job, name, where))
                continue
            ports, problem = _ports(found, _container_ports(service))
            if problem:
                problems.append(Diagnostic(where, f"service {name!r}: {problem}", hint=_map(name)))
                continue
            context[name] = {"id": "", "network": "", "host": found.host, "ports": ports}
        job.services_context = context
    return problems


def _unmapped(job: PlannedJob, name: str, where: Position | None) -> Diagnostic:
    return Diagnostic(
        where,
        f"job '{job.job_id}' needs service {name!r}, which is not mapped to a service "
        f"running on this machine (Stageline runs no service containers)",
        hint=f"map it in {CONFIG_FILE}: {_map(name)}",
    )


def _map(name: str) -> str:
    return f"services: {{{name}: {{host: {_HINT_HOST}, port: PORT}}}}"


def _ports(found: HostService, declared: list[int]) -> tuple[dict[str, str], str | None]:
    """The `ports` context (container port → host port, as text), or why it cannot be."""
    if found.port is not None:
        if len(declared) > 1:
            listed = ", ".join(map(str, declared))
            return {}, (
                f"the job exposes ports {listed} but {CONFIG_FILE} gives one `port`; "
                "map each with `ports: {CONTAINER: HOST}`"
            )
        return {str(declared[0] if declared else found.port): str(found.port)}, None
    missing = [str(port) for port in declared if port not in found.ports]
    if missing:
        return {}, f"container port {', '.join(missing)} is not mapped under its `ports`"
    return {str(c): str(h) for c, h in found.ports.items()}, None


def _container_ports(service: Any) -> list[int]:
    """The container ports a service's `ports:` declares (Docker's `[ip:][host:]container
    [/proto]`); entries written as expressions are left out."""
    entries = service.get("ports") if isinstance(service, Mapping) else None
    ports: list[int] = []
    for entry in entries if isinstance(entries, list) else []:
        text = str(entry).rsplit(":", 1)[-1].split("/", 1)[0].strip()
        if text.isdigit() and int(text) not in ports:
            ports.append(int(text))
    return ports
