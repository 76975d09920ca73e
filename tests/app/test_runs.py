"""Starting, resuming and cancelling runs through the services, on real repositories with
the local executor and a real SQLite record."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.app import gates, reads, runs
from stageline.engine.events import EngineEvent
from stageline.engine.scheduler import RunSpec
from stageline.engine.setup import RunOptions
from stageline.errors import RunError, WorkflowError
from tests.app.conftest import kill, make_repo, run_in_background, wait_until, waiting


class Collect:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def handle(self, event: EngineEvent) -> None:
        self.kinds.append(event.kind)


def test_start_runs_and_records(repo: Path) -> None:
    prepared = runs.prepare(RunOptions(cwd=repo, vars={"WHAT": "the app"}))
    [note] = prepared.notes
    assert note.startswith(".github/workflows/ci.yml: ")
    seen = Collect()
    finished = runs.start(prepared, parallel=2, observer_for=lambda spec: seen)
    assert finished.exit_code == 0
    [detail] = finished.runs
    assert (detail.run.status, detail.run.conclusion) == ("completed", "success")
    assert [job.key for job in detail.jobs] == ["build", "test"]
    assert "run.started" in seen.kinds and "run.finished" in seen.kinds
    logs = list(reads.logs(repo, detail.run.id, "build"))
    assert logs[0].first and logs[0].job == "build"
    assert "building the app" in "\n".join(line for chunk in logs for line in chunk.lines)


def test_a_failing_run_exits_1(tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: exit 3\n"
    )
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": workflow})
    finished = runs.start(runs.prepare(RunOptions(cwd=repo)))
    assert finished.exit_code == 1
    assert finished.runs[0].run.conclusion == "failure"


def test_nothing_runs_when_a_workflow_is_invalid(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": "on: push\njobs: 3\n"})
    with pytest.raises(WorkflowError):
        runs.prepare(RunOptions(cwd=repo))
    assert not (repo / ".stageline").exists()


def _spec(repo: Path, workflow: str) -> RunSpec:
    (repo / ".github/workflows/ci.yml").write_text(workflow)
    return runs.prepare(RunOptions(cwd=repo)).specs[0]


def test_delivery_is_wired_only_when_a_run_can_deliver(repo: Path) -> None:
    steps = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - {}\n"
    plain = _spec(repo, steps.format("run: echo hi"))
    assert not runs.needs_delivery([plain], repo)
    checkout = _spec(repo, steps.format("uses: actions/checkout@v4"))
    assert not runs.needs_delivery([checkout], repo)
    env = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    environment: prod\n"
    deploying = _spec(repo, env + "    steps:\n      - run: echo hi\n")
    assert runs.needs_delivery([deploying], repo)
    (repo / ".stageline.yml").write_text("environments: {}\n")
    assert runs.needs_delivery([plain], repo)


def test_approve_then_resume_a_run_whose_process_was_killed(stopped_at_gate: Path) -> None:
    repo = stopped_at_gate
    decided = gates.decide(repo, 1, "approve", as_="bob", comment="ship it")
    assert (decided.environment, decided.effect, decided.reviewer) == (
        "production",
        "approved",
        "bob",
    )
    said: list[str] = []
    finished = runs.resume(repo, 1, env={"DEPLOY_NOTE": "on resume"}, say=said.append)
    assert said == ["resuming run 1 (#1)"]
    assert finished.exit_code == 0
    jobs = {job.key: job for job in finished.runs[0].jobs}
    assert (jobs["test"].conclusion, jobs["deploy"].conclusion) == ("success", "success")
    # `.env` (MARK) is read again as `stageline run` reads it, `env` given again over it.
    assert (repo.parent / "deployed.txt").read_text() == "deployed on resume\n"
    with pytest.raises(RunError, match="run 1 has ended"):
        runs.resume(repo, 1)


def test_reject_then_resume_fails_the_deploy(stopped_at_gate: Path) -> None:
    repo = stopped_at_gate
    assert gates.decide(repo, 1, "reject", as_="carol").effect == "rejected"
    finished = runs.resume(repo, 1)
    assert finished.exit_code == 1
    deploy = {job.key: job for job in finished.runs[0].jobs}["deploy"]
    assert deploy.conclusion == "failure"
    assert "rejected by carol" in (deploy.reason or "")
    assert not (repo.parent / "deployed.txt").exists()


def test_resume_refuses_what_it_cannot_resume(repo: Path) -> None:
    with pytest.raises(RunError, match="no runs recorded yet"):
        runs.resume(repo, 1)
    runs.start(runs.prepare(RunOptions(cwd=repo)))
    with pytest.raises(RunError, match="no run 7 in the record"):
        runs.resume(repo, 7)
    with pytest.raises(RunError, match=r"run 1 has ended \(success\); nothing to resume"):
        runs.resume(repo, 1)


def test_cancel_a_run_nobody_runs_completes_its_record(stopped_at_gate: Path) -> None:
    repo = stopped_at_gate
    assert runs.cancel(repo, 1, reason="not today") == runs.Cancelled(1, "completed")
    run = reads.run(repo, 1).run
    assert (run.status, run.conclusion, run.reason) == ("completed", "cancelled", "not today")
    with pytest.raises(RunError, match="run 1 has ended; nothing to cancel"):
        runs.cancel(repo, 1)


def test_cancel_a_running_run_asks_its_process(gated: Path) -> None:
    process = run_in_background(gated)
    try:
        wait_until(lambda: waiting(gated), "the run to wait at its gate")
        assert runs.cancel(gated, 1) == runs.Cancelled(1, "requested")
        process.communicate(timeout=30)
        assert process.returncode != 0
    finally:
        if process.poll() is None:
            kill(process)
    run = reads.run(gated, 1).run
    assert (run.status, run.conclusion) == ("completed", "cancelled")
