"""The `DispatchStore` contract (ADR 0012): leases and fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from stageline.store import NewJob, NewRun, Store

NEW = NewRun("/repo", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {"jobs": []})


def _run(store: Store) -> int:
    run_id, _ = store.runs.create_run(NEW, [NewJob("build", "build", "build", [])], "logs")
    return run_id


def test_an_attempt_is_claimed_once_and_a_duplicate_claim_changes_nothing(store: Store) -> None:
    run_id = _run(store)
    made = store.dispatch.create_attempt(run_id, "build", "gpu", ["self-hosted", "gpu"])
    assert (made.state, made.queue, made.labels, made.number, made.worker) == (
        "queued",
        "gpu",
        ("self-hosted", "gpu"),
        1,
        None,
    )
    assert made.created_at.tzinfo is not None
    assert store.dispatch.running_attempt(made.id) is None
    until = time.time() + 30
    claimed = store.dispatch.claim(made.id, "w1", until)
    assert claimed is not None
    assert (claimed.state, claimed.worker, claimed.lease_until) == ("running", "w1", until)
    assert claimed.started_at is not None
    assert store.dispatch.claim(made.id, "w2", until) is None
    assert store.dispatch.claim("no-such-attempt", "w1", until) is None
    assert store.dispatch.get_attempt(made.id) == claimed
    assert store.dispatch.running_attempt(made.id, "w1") == claimed
    assert store.dispatch.running_attempt(made.id, "w2") is None
    assert store.dispatch.get_attempt("nope") is None


def test_leases_extend_only_for_the_running_worker_and_expired_ones_are_found(
    store: Store,
) -> None:
    run_id = _run(store)
    a = store.dispatch.create_attempt(run_id, "build", "default", [])
    b = store.dispatch.create_attempt(run_id, "build", "default", [], number=2)
    now = time.time()
    store.dispatch.claim(a.id, "w1", now - 1)
    store.dispatch.claim(b.id, "w2", now - 1)
    assert {r.id for r in store.dispatch.expired_leases(now)} == {a.id, b.id}
    extended = store.dispatch.extend_leases("w1", [a.id, b.id, "gone"], now + 30)
    assert [(r.id, r.lease_until) for r in extended] == [(a.id, now + 30)]
    assert [r.id for r in store.dispatch.expired_leases(now)] == [b.id]
    assert store.dispatch.extend_leases("w1", [], now + 60) == []
    assert store.dispatch.end_attempt(b.id, "lost", "worker w2 lost")
    assert not store.dispatch.end_attempt(b.id, "lost", "again")
    lost = store.dispatch.get_attempt(b.id)
    assert lost is not None and (lost.state, lost.reason) == ("lost", "worker w2 lost")
    assert store.dispatch.expired_leases(now) == []
    assert [r.id for r in store.dispatch.live_attempts()] == [a.id]
    assert [r.number for r in store.dispatch.attempts_of_run(run_id)] == [1, 2]


def test_batches_apply_once_and_only_from_the_running_worker(store: Store) -> None:
    run_id = _run(store)
    a = store.dispatch.create_attempt(run_id, "build", "default", [])
    assert store.dispatch.apply_batch(a.id, "w1", 1) is None  # not claimed yet
    store.dispatch.claim(a.id, "w1", time.time() + 30)
    assert store.dispatch.apply_batch(a.id, "w1", 1) is True
    assert store.dispatch.apply_batch(a.id, "w1", 1) is False
    assert store.dispatch.apply_batch(a.id, "w1", 2) is True
    assert store.dispatch.apply_batch(a.id, "w2", 3) is None
    row = store.dispatch.get_attempt(a.id)
    assert row is not None and row.last_seq == 2
    assert not store.dispatch.finish_attempt(a.id, "w2")
    assert store.dispatch.finish_attempt(a.id, "w1")
    assert not store.dispatch.finish_attempt(a.id, "w1")
    assert store.dispatch.apply_batch(a.id, "w1", 3) is None
    done = store.dispatch.get_attempt(a.id)
    assert done is not None and done.state == "finished" and done.finished_at is not None
    assert not store.dispatch.end_attempt(a.id, "lost", "late reaper")


def test_cancel_is_requested_once_and_a_queued_attempt_ends_cancelled(store: Store) -> None:
    run_id = _run(store)
    a = store.dispatch.create_attempt(run_id, "build", "default", [])
    first = store.dispatch.request_attempt_cancel(a.id, "cancelled by alice")
    again = store.dispatch.request_attempt_cancel(a.id, "cancelled by bob")
    assert first is not None and first.cancel_requested == "cancelled by alice"
    assert again is not None and again.cancel_requested == "cancelled by alice"
    assert store.dispatch.end_attempt(a.id, "cancelled", "cancelled by alice", ["queued"])
    assert store.dispatch.claim(a.id, "w1", time.time() + 30) is None
    assert store.dispatch.request_attempt_cancel("nope", "x") is None


def test_workers_register_by_heartbeat_and_are_live_while_heard(store: Store) -> None:
    now = time.time()
    current = [{"attempt": "a1", "run_id": 1, "job_key": "build"}]
    beat = {"concurrency": 2, "hostname": "box", "pid": 10, "version": "0.1"}
    store.dispatch.worker_beat("w1", queues=["default"], current=[], now=now - 100, **beat)
    store.dispatch.worker_beat("w2", queues=["gpu"], current=current, now=now, **beat)
    first = store.dispatch.get_worker("w1")
    assert first is not None and first.last_seen == now - 100
    store.dispatch.worker_beat("w1", queues=["default", "x"], current=current, now=now - 50, **beat)
    again = store.dispatch.get_worker("w1")
    assert again is not None
    assert (again.queues, again.current, again.last_seen) == (
        ("default", "x"),
        tuple(current),
        now - 50,
    )
    assert again.started_at == first.started_at  # the same process: its start stays
    store.dispatch.worker_beat("w1", queues=["default"], current=[], now=now, **{**beat, "pid": 11})
    restarted = store.dispatch.get_worker("w1")
    assert restarted is not None and restarted.started_at > first.started_at
    assert [w.name for w in store.dispatch.list_workers()] == ["w1", "w2"]
    store.dispatch.worker_beat("w1", queues=["default"], current=[], now=now - 100, **beat)
    assert [w.name for w in store.dispatch.list_workers(seen_since=now - 15)] == ["w2"]
    assert store.dispatch.get_worker("nope") is None


def test_a_retried_jobs_steps_replace_the_lost_attempts(store: Store) -> None:
    run_id = _run(store)
    recorder = store.runs.recorder(run_id)
    recorder.step_started("build", 0, "first try", time.time())
    recorder.step_finished("build", 0, True, conclusion="failure")
    recorder.flush()
    recorder.clear_steps("build")
    recorder.step_started("build", 0, "second try", time.time())
    recorder.flush()
    [job] = store.runs.get_run(run_id).jobs
    assert [(s.number, s.name) for s in job.steps] == [(0, "second try")]
