"""The run path's plain-SQL store (stdlib sqlite3) against the SQLAlchemy models.

The models and migrations are the schema's source of truth; `store.sqlite`'s run
store writes and reads with plain SQL. These tests read what the plain
path wrote through the models, and check that the run path never loads SQLAlchemy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.store import Store, open_store
from stageline.store.models import Annotation, Artifact, EventRow, Job, Run, Step
from stageline.store.records import NewJob, NewRun

NEW = NewRun("/repo", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {"jobs": []})


def _record(store_dir: Path) -> int:
    """A run with every kind of column written: times, JSON, NULLs, enums."""
    with open_store(store_dir) as store:
        jobs = [NewJob("a", "a", "A", []), NewJob("b.1", "b", "B (x)", ["a"], {"k": "x"}, "prod")]
        run_id, _ = store.runs.create_run(NEW, jobs, "L")
        rec = store.runs.recorder(run_id)
        now = time.time()
        rec.run(status="in_progress", started_at=now)
        rec.job("a", status="in_progress", started_at=now)
        rec.step_started("a", 0, "Run make", now)
        rec.step_finished(
            "a", 0, True, outcome="failure", conclusion="success", finished_at=now, exit_code=2
        )
        rec.step_finished("a", 1, False, name="Later", outcome="skipped", conclusion="skipped")
        rec.job("a", status="completed", conclusion="success", outputs={"v": "1"}, finished_at=now)
        rec.annotation("a", step_number=0, level="warning", message="careful", line=2, col=3)
        rec.artifact("a", name="dist", path="/x", size=5, expires_at=now + 60)
        rec.event("job.finished", "a", {"conclusion": "success"})
        rec.flush()
        store.runs.request_job_cancel(_pk(store, run_id, "b.1"), "stop b")
        assert store.runs.heartbeat(run_id).cancel_jobs == {"b.1": "stop b"}
        assert store.runs.request_cancel(run_id, "enough")
    return run_id


def _pk(store: Store, run_id: int, key: str) -> int:
    row = store.raw.execute("SELECT id FROM jobs WHERE run_id = ? AND key = ?", (run_id, key))
    return int(row.fetchone()[0])


def test_what_the_plain_path_writes_reads_back_the_same_through_the_models(
    tmp_path: Path,
) -> None:
    run_id = _record(tmp_path)
    with open_store(tmp_path) as store:
        detail = store.runs.get_run(run_id)
        events = store.runs.run_events(run_id)
        with Session(store.engine) as session:
            run = session.scalars(select(Run).where(Run.id == run_id)).one()
            jobs = session.scalars(select(Job).order_by(Job.position, Job.id)).all()
            steps = session.scalars(select(Step).order_by(Step.number)).all()
            notes = session.scalars(select(Annotation)).all()
            artifacts = session.scalars(select(Artifact)).all()
            rows = session.scalars(select(EventRow).order_by(EventRow.id)).all()
            for field in detail.run.__slots__:
                assert getattr(detail.run, field) == getattr(run, field), field
            assert run.plan == {"jobs": []}
            assert len(detail.jobs) == len(jobs) == 2
            for record, model in zip(detail.jobs, jobs, strict=True):
                for field in record.__slots__:
                    if field != "steps":
                        assert getattr(record, field) == getattr(model, field), field
            assert [s.number for s in detail.jobs[0].steps] == [s.number for s in steps]
            for record, model in zip(detail.jobs[0].steps, steps, strict=True):
                for field in record.__slots__:
                    assert getattr(record, field) == getattr(model, field), field
            for records, models in ((detail.annotations, notes), (detail.artifacts, artifacts)):
                assert len(records) == len(models) == 1
                for field in records[0].__slots__:
                    assert getattr(records[0], field) == getattr(models[0], field), field
            assert [(e.id, e.job_key, e.kind, e.data, e.at) for e in events] == [
                (r.id, r.job_key, r.kind, r.data, r.at) for r in rows
            ]
    assert detail.run.cancel_requested == "enough"
    assert isinstance(detail.run.started_at, datetime) and detail.run.started_at.tzinfo is UTC
    b = detail.jobs[1]
    assert (b.matrix, b.needs, b.environment, b.started_at) == ({"k": "x"}, ["a"], "prod", None)
    assert detail.jobs[0].steps[0].exit_code == 2
    assert [e.kind for e in events] == ["run.queued", "job.finished", "run.cancel_requested"]


def test_an_orphan_is_finished_with_its_jobs_and_steps(tmp_path: Path) -> None:
    run_id = _record(tmp_path)
    with open_store(tmp_path) as store:
        store.runs.finish_orphan(run_id, "gone", "failure")  # type: ignore[arg-type]
        detail = store.runs.get_run(run_id)
    assert (detail.run.status, detail.run.conclusion, detail.run.reason) == (
        "completed",
        "failure",
        "gone",
    )
    assert {(j.key, j.status, j.conclusion) for j in detail.jobs} == {
        ("a", "completed", "success"),
        ("b.1", "completed", "cancelled"),
    }
    assert all(s.status == "completed" for s in detail.jobs[0].steps)


_RUN_PATH = """
import json, sys, time
from stageline.store import open_store
from stageline.store.records import NewRun, NewJob
with open_store(sys.argv[1]) as store:
    store.runs.reap_orphans()
    run = NewRun("/r", "o/r", "CI", "ci.yml", "push", "refs/heads/main", "abc", "me", {})
    run_id, _ = store.runs.create_run(run, [NewJob("a", "a", "A", [])], "L")
    rec = store.runs.recorder(run_id)
    rec.job("a", status="completed", conclusion="success", finished_at=time.time())
    rec.flush()
    store.runs.heartbeat(run_id)
    status = store.runs.get_run(run_id).jobs[0].status
print(json.dumps({"sqlalchemy": "sqlalchemy" in sys.modules, "status": status}))
"""


def test_the_run_path_on_an_existing_store_does_not_load_sqlalchemy(tmp_path: Path) -> None:
    open_store(tmp_path).close()  # created (through SQLAlchemy) beforehand
    done = subprocess.run(
        [sys.executable, "-c", _RUN_PATH, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == {"sqlalchemy": False, "status": "completed"}
