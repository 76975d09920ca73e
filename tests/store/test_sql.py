"""`store.sql`, the delivery tables: the environment lock across processes, gates and decisions,
interrupted rollbacks, and forgetting what an interrupted run left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.store import Store, open_store
from stageline.store.records import NewJob, NewRun


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "home") as opened:
        yield opened


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def new_run(store: Store, jobs: list[str] | None = None) -> int:
    run = NewRun("/repo", "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "alice", {})
    run_id, _ = store.runs.create_run(
        run, [NewJob(k, k, k, []) for k in jobs or ["deploy"]], "logs"
    )
    return run_id


def deployment(store: Store, run_id: int | None, status: str = "queued") -> int:
    return store.deployments.create_deployment(
        repo_path="/repo", environment="staging", run_id=run_id, job_key="deploy", status=status
    )


def test_the_environment_goes_to_the_oldest_live_deployment(store: Store) -> None:
    run = new_run(store)  # this process: alive
    first, second = deployment(store, run), deployment(store, run)
    assert store.deployments.claim_environment(second).id == first  # type: ignore[union-attr]
    assert store.deployments.claim_environment(first) is None
    assert store.deployments.get_deployment(first).status == "in_progress"  # type: ignore[union-attr]
    assert store.deployments.claim_environment(second).id == first  # type: ignore[union-attr]
    store.deployments.finish_deployment(first, "success", None)
    assert store.deployments.claim_environment(second) is None
    store.deployments.finish_deployment(second, "success", None)
    statuses = [r.status for r in store.deployments.list_deployments("/repo", "staging")]
    assert statuses == ["inactive", "success"]


def test_a_dead_run_does_not_hold_the_environment(store: Store) -> None:
    gone = new_run(store)
    with store.transaction() as conn:
        conn.exec_driver_sql(
            f"UPDATE runs SET status = 'waiting', pid = {dead_pid()} WHERE id = {gone}"
        )
    stale = deployment(store, gone, "in_progress")
    mine = deployment(store, new_run(store))
    assert store.deployments.claim_environment(mine) is None
    assert store.deployments.get_deployment(stale).status == "in_progress"  # left as it was  # type: ignore[union-attr]
    assert not store.runs.run_alive(gone)


def test_gates_are_opened_once_and_decisions_read_incrementally(store: Store) -> None:
    run = new_run(store)
    gate, created = store.deployments.open_gate(run, "production", actor="alice")
    again, created_again = store.deployments.open_gate(run, "production", actor="someone else")
    assert (created, created_again, again.id, again.actor) == (True, False, gate.id, "alice")
    first = store.deployments.record_decision(run, gate.id, "bob", "approve", comment="ok")
    store.deployments.record_decision(run, gate.id, "carol", "reject")
    assert [x.reviewer for x in store.deployments.decisions(gate.id)] == ["bob", "carol"]
    assert [x.reviewer for x in store.deployments.decisions(gate.id, after=first)] == ["carol"]
    assert store.deployments.decisions(gate.id)[0].comment == "ok"
    store.deployments.record_decision(run, None, "auto", "approve", source_job="approval")
    assert [x.source_job for x in store.deployments.auto_approvals(run)] == ["approval"]
    pause, _ = store.deployments.open_gate(run, "production", "pause", deployment_id=7)
    assert pause.id != gate.id
    assert [g.id for g in store.deployments.pending_pauses("production")] == [pause.id]


def test_only_rollbacks_whose_process_died_are_interrupted(store: Store) -> None:
    run = new_run(store)
    store.deployments.create_rollback(
        repo_path="/repo", environment="staging", run_id=run, method="script"
    )
    dead = store.deployments.create_rollback(
        repo_path="/repo", environment="staging", run_id=run, method="script", pid=dead_pid()
    )
    assert [r.id for r in store.deployments.interrupted_rollbacks(run_id=run)] == [dead]
    assert store.deployments.get_rollback(dead).pid != os.getpid()  # type: ignore[union-attr]


def test_reset_forgets_steps_of_unfinished_jobs_and_unplanned_rows(store: Store) -> None:
    run = new_run(store, ["test", "deploy", "matrix.1"])
    recorder = store.runs.recorder(run)
    for key in ("test", "deploy", "matrix.1"):
        recorder.step_started(key, 0, "step", 0.0)
    recorder.job("test", status="completed", conclusion="success")
    recorder.flush()
    store.runs.reset_unfinished(
        run, keep={"test", "matrix.1"}, planned={"test", "deploy", "matrix"}
    )
    with store.transaction() as conn:
        steps = conn.exec_driver_sql(f"SELECT job_key FROM steps WHERE run_id = {run}").all()
        jobs = conn.exec_driver_sql(f"SELECT key FROM jobs WHERE run_id = {run}").all()
    assert [s[0] for s in steps] == ["test"]
    assert sorted(j[0] for j in jobs) == ["deploy", "test"]
