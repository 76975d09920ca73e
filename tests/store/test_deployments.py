"""The delivery tables: the environment lock across processes, gates and decisions,
interrupted rollbacks, and forgetting what an interrupted run left behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.store import Store, open_store
from stageline.store import deployments as d
from stageline.store.runs import NewJob, NewRun, RunRecorder, create_run


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
    run_id, _ = create_run(store, run, [NewJob(k, k, k, []) for k in jobs or ["deploy"]], "logs")
    return run_id


def deployment(store: Store, run_id: int | None, status: str = "queued") -> int:
    return d.create_deployment(
        store, repo_path="/repo", environment="staging", run_id=run_id, job_key="deploy",
        status=status,
    )  # fmt: skip


def test_the_environment_goes_to_the_oldest_live_deployment(store: Store) -> None:
    run = new_run(store)  # this process: alive
    first, second = deployment(store, run), deployment(store, run)
    assert d.claim_environment(store, second).id == first  # type: ignore[union-attr]
    assert d.claim_environment(store, first) is None
    assert d.get_deployment(store, first).status == "in_progress"  # type: ignore[union-attr]
    assert d.claim_environment(store, second).id == first  # type: ignore[union-attr]
    d.finish_deployment(store, first, "success", None)
    assert d.claim_environment(store, second) is None
    d.finish_deployment(store, second, "success", None)
    statuses = [r.status for r in d.list_deployments(store, "/repo", "staging")]
    assert statuses == ["inactive", "success"]


def test_a_dead_run_does_not_hold_the_environment(store: Store) -> None:
    gone = new_run(store)
    with store.transaction() as conn:
        conn.exec_driver_sql(
            f"UPDATE runs SET status = 'waiting', pid = {dead_pid()} WHERE id = {gone}"
        )
    stale = deployment(store, gone, "in_progress")
    mine = deployment(store, new_run(store))
    assert d.claim_environment(store, mine) is None
    assert d.get_deployment(store, stale).status == "in_progress"  # left as it was  # type: ignore[union-attr]
    assert not d.run_alive(store, gone)


def test_gates_are_opened_once_and_decisions_read_incrementally(store: Store) -> None:
    run = new_run(store)
    gate, created = d.open_gate(store, run, "production", actor="alice")
    again, created_again = d.open_gate(store, run, "production", actor="someone else")
    assert (created, created_again, again.id, again.actor) == (True, False, gate.id, "alice")
    first = d.record_decision(store, run, gate.id, "bob", "approve", comment="ok")
    d.record_decision(store, run, gate.id, "carol", "reject")
    assert [x.reviewer for x in d.decisions(store, gate.id)] == ["bob", "carol"]
    assert [x.reviewer for x in d.decisions(store, gate.id, after=first)] == ["carol"]
    assert d.decisions(store, gate.id)[0].comment == "ok"
    d.record_decision(store, run, None, "auto", "approve", source_job="approval")
    assert [x.source_job for x in d.auto_approvals(store, run)] == ["approval"]
    pause, _ = d.open_gate(store, run, "production", "pause", deployment_id=7)
    assert pause.id != gate.id
    assert [g.id for g in d.pending_pauses(store, "production")] == [pause.id]


def test_only_rollbacks_whose_process_died_are_interrupted(store: Store) -> None:
    run = new_run(store)
    d.create_rollback(store, repo_path="/repo", environment="staging", run_id=run, method="script")
    dead = d.create_rollback(
        store, repo_path="/repo", environment="staging", run_id=run, method="script",
        pid=dead_pid(),
    )  # fmt: skip
    assert [r.id for r in d.interrupted_rollbacks(store, run_id=run)] == [dead]
    assert d.get_rollback(store, dead).pid != os.getpid()  # type: ignore[union-attr]


def test_reset_forgets_steps_of_unfinished_jobs_and_unplanned_rows(store: Store) -> None:
    run = new_run(store, ["test", "deploy", "matrix.1"])
    recorder = RunRecorder(store, run)
    for key in ("test", "deploy", "matrix.1"):
        recorder.step_started(key, 0, "step", 0.0)
    recorder.job("test", status="completed", conclusion="success")
    recorder.flush()
    d.reset_unfinished(store, run, keep={"test", "matrix.1"}, planned={"test", "deploy", "matrix"})
    with store.transaction() as conn:
        steps = conn.exec_driver_sql(f"SELECT job_key FROM steps WHERE run_id = {run}").all()
        jobs = conn.exec_driver_sql(f"SELECT key FROM jobs WHERE run_id = {run}").all()
    assert [s[0] for s in steps] == ["test"]
    assert sorted(j[0] for j in jobs) == ["deploy", "test"]
