"""`Recording`: writes flush once per loop turn; a record that cannot be written
calls `on_unwritable` (which cancels the run) and keeps the writes queued."""

from __future__ import annotations

import asyncio

from stageline.engine.events import RunWaiting
from stageline.engine.recording import Recording
from stageline.store import Store
from stageline.store.records import NewRun
from tests.engine.conftest import Recorder


def new_run(store: Store) -> int:
    run = NewRun("/repo", "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "alice", {})
    run_id, _ = store.runs.create_run(run, [], str(store.logs_dir))
    return run_id


def test_writes_are_flushed_on_the_next_turn_of_the_loop(store: Store) -> None:
    run_id = new_run(store)
    observer = Recorder()

    async def main() -> None:
        recording = Recording(store, run_id, observer, lambda reason: None)
        recording.recorder.run(waiting_for="a gate")
        recording.emit(RunWaiting(run_id=str(run_id), waiting_for="a gate"))
        assert store.runs.get_run(run_id).run.waiting_for is None
        await asyncio.sleep(0)
        assert store.runs.get_run(run_id).run.waiting_for == "a gate"

    asyncio.run(main())
    assert [e.kind for e in observer.events] == ["run.waiting"]


def test_a_record_that_cannot_be_written_is_reported_and_kept(store: Store) -> None:
    run_id = new_run(store)
    reasons: list[str] = []

    async def main() -> None:
        recording = Recording(store, run_id, None, reasons.append)
        store.raw.execute("PRAGMA query_only = ON")
        recording.recorder.run(waiting_for="a gate")
        await asyncio.sleep(0)
        assert recording.recorder.pending == 1
        store.raw.execute("PRAGMA query_only = OFF")
        recording.flush()
        assert recording.recorder.pending == 0

    asyncio.run(main())
    assert len(reasons) == 1 and reasons[0].startswith("the record cannot be written")
    assert store.runs.get_run(run_id).run.waiting_for == "a gate"


def test_what_the_engine_records_and_tells_is_masked_with_the_runs_secrets(store: Store) -> None:
    run_id = new_run(store)
    observer = Recorder()
    secret = "hunter2-deploy-key"

    async def main() -> None:
        recording = Recording(store, run_id, observer, lambda reason: None, [secret, ""])
        recording.recorder.run(waiting_for=f"approval of {secret}")
        recording.recorder.event("job.finished", None, {"reason": f"failed: {secret}"})
        recording.emit(RunWaiting(run_id=str(run_id), waiting_for=f"url {secret}"))
        await asyncio.sleep(0)

    asyncio.run(main())
    assert store.runs.get_run(run_id).run.waiting_for == "approval of ***"
    [event] = [e for e in store.runs.run_events(run_id) if e.kind == "job.finished"]
    assert event.data == {"reason": "failed: ***"}
    assert [e.waiting_for for e in observer.events] == ["url ***"]  # type: ignore[attr-defined]


def test_secrets_released_later_are_masked_from_then_on(store: Store) -> None:
    """A run with no secrets of its own starts unmasked; an environment's secrets, released
    by its gate, are masked from then on in what is recorded and told."""
    run_id = new_run(store)
    observer = Recorder()
    secret = "released-by-the-gate"

    async def main() -> None:
        recording = Recording(store, run_id, observer, lambda reason: None)
        recording.add_secrets([secret, ""])
        recording.recorder.run(waiting_for=f"deploying {secret}")
        recording.emit(RunWaiting(run_id=str(run_id), waiting_for=f"url {secret}"))
        await asyncio.sleep(0)

    asyncio.run(main())
    assert store.runs.get_run(run_id).run.waiting_for == "deploying ***"
    assert [e.waiting_for for e in observer.events] == ["url ***"]  # type: ignore[attr-defined]
