"""`DeployRuntime.emit`: what the deploy layer records and tells notifications is masked
with the run's secrets (a gate's reason or an environment URL may carry one)."""

from __future__ import annotations

from stageline.deploy.config import StagelineConfig
from stageline.deploy.runtime import DeployRuntime
from stageline.engine.events import EngineEvent
from stageline.errors import Position
from stageline.store import Store
from stageline.store.records import NewRun


class Kept:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []

    def handle(self, event: EngineEvent) -> None:
        self.events.append(event)


def test_emitted_events_are_masked_in_the_record_and_for_observers(store: Store) -> None:
    run = NewRun("/repo", "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "alice", {})
    run_id, _ = store.runs.create_run(run, [], str(store.logs_dir))
    kept = Kept()
    runtime = DeployRuntime(
        store,
        StagelineConfig(Position(".stageline.yml")),
        "/repo",
        secrets={"KEY": "s3cret-value", "EMPTY": ""},
        observer=kept,
    )
    runtime.emit("deployment.started", run_id, "deploy", url="https://x/?k=s3cret-value")
    [recorded] = [e for e in store.runs.run_events(run_id) if e.kind == "deployment.started"]
    assert recorded.data == {"url": "https://x/?k=***"}
    assert [e.data for e in kept.events] == [{"url": "https://x/?k=***"}]  # type: ignore[attr-defined]
