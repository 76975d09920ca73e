"""`store.sqlite`: reading runs back, and marking orphaned runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from stageline.errors import RunError
from stageline.store import open_store
from stageline.store.liveness import STALE_AFTER_S
from stageline.store.records import NewJob, NewRun

NEW = NewRun("/repo", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {})


def test_a_recorded_run_reads_back_with_jobs_steps_and_annotations(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id, number = store.runs.create_run(
            NEW,
            [NewJob("a", "a", "A", []), NewJob("b.1", "b", "B (x)", ["a"], {"k": "x"})],
            "L",
        )
        rec = store.runs.recorder(run_id)
        now = time.time()
        rec.run(status="in_progress", started_at=now)
        rec.job("a", status="in_progress", started_at=now)
        rec.step_started("a", 0, "Run make", now)
        rec.step_finished("a", 0, True, outcome="failure", conclusion="success", finished_at=now)
        rec.step_finished("a", 1, False, name="Later", outcome="skipped", conclusion="skipped")
        rec.job("a", status="completed", conclusion="success", outputs={"v": "1"}, finished_at=now)
        rec.annotation("a", step_number=0, level="warning", message="careful", line=2)
        rec.flush()
        detail = store.runs.get_run(run_id)
    assert number == 1
    assert detail.run.status == "in_progress" and detail.run.started_at is not None
    assert detail.run.started_at.tzinfo is not None
    a, b = detail.jobs
    assert (a.key, a.status, a.conclusion, a.outputs) == ("a", "completed", "success", {"v": "1"})
    assert [(s.number, s.name, s.outcome, s.conclusion) for s in a.steps] == [
        (0, "Run make", "failure", "success"),
        (1, "Later", "skipped", "skipped"),
    ]
    assert (b.matrix, b.needs, b.status) == ({"k": "x"}, ["a"], "queued")
    assert detail.annotations[0].message == "careful"
    assert detail.run.log_dir == f"L/{run_id}"


def test_list_runs_newest_first_and_unknown_run(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        for _ in range(3):
            store.runs.create_run(NEW, [], "L")
        assert [r.number for r in store.runs.list_runs()] == [3, 2, 1]
        assert store.runs.list_runs(repo_path="/other") == []
        with pytest.raises(RunError, match="no run 99"):
            store.runs.get_run(99)


def test_a_run_whose_process_died_is_marked_failed_with_a_reason(tmp_path: Path) -> None:
    script = f"""
from stageline.store import open_store
from stageline.store.records import NewJob, NewRun
store = open_store({str(tmp_path)!r})
new = NewRun("/repo", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {{}})
run_id, _ = store.runs.create_run(new, [NewJob("a", "a", "A", [])], "L")
rec = store.runs.recorder(run_id)
rec.run(status="in_progress", started_at=1.0)
rec.job("a", status="in_progress", started_at=1.0)
rec.step_started("a", 0, "Run sleep", 1.0)
rec.flush()
print(run_id)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run_id = int(done.stdout)
    with open_store(tmp_path) as store:
        assert store.runs.reap_orphans() == [run_id]
        detail = store.runs.get_run(run_id)
        assert store.runs.reap_orphans() == []  # once
    assert (detail.run.status, detail.run.conclusion) == ("completed", "failure")
    assert "ended before the run finished" in (detail.run.reason or "")
    assert (detail.jobs[0].status, detail.jobs[0].conclusion) == ("completed", "cancelled")
    assert detail.jobs[0].steps[0].status == "completed"


def test_a_stale_heartbeat_makes_an_orphan_and_a_live_run_is_left_alone(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id, _ = store.runs.create_run(NEW, [], "L")  # this process: alive
        assert store.runs.reap_orphans() == []
        later = time.time() + STALE_AFTER_S + 5
        assert store.runs.reap_orphans(now=later) == [run_id]
        detail = store.runs.get_run(run_id)
    assert detail.run.conclusion == "cancelled"  # it never started
    assert "no heartbeat" in (detail.run.reason or "")


def test_a_run_waiting_at_a_gate_outlives_its_process(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id, _ = store.runs.create_run(NEW, [], "L")
        rec = store.runs.recorder(run_id)
        rec.run(status="waiting", waiting_for="approval", pid=2**22 + 7)  # no such pid
        rec.flush()
        assert store.runs.reap_orphans(now=time.time() + STALE_AFTER_S * 10) == []
