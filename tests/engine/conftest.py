"""Hand-built plans and a real store for engine tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stageline.engine import events as ev
from stageline.engine.scheduler import RunOutcome, RunSpec, Scheduler, Slots
from stageline.executors.fake import FakeExecutor
from stageline.plan.model import Event, Plan, PlannedJob, PlannedStep
from stageline.store import Store, open_store
from tests.support.plans import planned_step


def step(index: int = 0, run: str = "true", **kw: Any) -> PlannedStep:
    return planned_step(index, run, **kw)


def job(job_id: str, needs: list[str] | None = None, **kw: Any) -> PlannedJob:
    values: dict[str, Any] = {
        "key": job_id,
        "job_id": job_id,
        "name": job_id,
        "needs": list(needs or []),
        "if_": None,
        "runs_on": "ubuntu-latest",
        "env": {},
        "defaults_shell": None,
        "defaults_working_directory": None,
        "outputs": {},
        "timeout_minutes": None,
        "continue_on_error": False,
        "steps": [step()],
    }
    values.update(kw)
    return PlannedJob(**values)


def legs(job_id: str, combos: list[dict[str, Any]], **kw: Any) -> list[PlannedJob]:
    """Matrix legs keyed as `plan.compile` keys them (`<id>.<n>`)."""
    return [
        job(
            job_id,
            key=f"{job_id}.{i + 1}",
            name=f"{job_id} ({', '.join(map(str, c.values()))})",
            matrix=c,
            strategy_index=i,
            strategy_total=len(combos),
            **kw,
        )
        for i, c in enumerate(combos)
    ]


def plan(*jobs: PlannedJob, **kw: Any) -> Plan:
    event = Event(
        name="push", ref="refs/heads/main", sha="a" * 40, actor="alice", repository="acme/app"
    )
    return Plan(
        workflow_name="CI",
        workflow_path=".github/workflows/ci.yml",
        event=event,
        env={},
        jobs=list(jobs),
        **kw,
    )


class Recorder:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[ev.EngineEvent] = []

    def handle(self, event: ev.EngineEvent) -> None:
        self.events.append(event)

    def kinds(self, kind: str) -> list[ev.EngineEvent]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "home") as opened:
        yield opened


def run_plan(
    store: Store,
    the_plan: Plan,
    executor: FakeExecutor,
    *,
    parallel: int = 8,
    observer: ev.Observer | None = None,
    **kw: Any,
) -> RunOutcome:
    async def main() -> RunOutcome:
        scheduler = Scheduler(
            store,
            executor,
            RunSpec(plan=the_plan, repo_dir=str(store.home)),
            slots=Slots(parallel),
            observer=observer,
            **kw,
        )
        return await scheduler.run()

    return asyncio.run(main())
