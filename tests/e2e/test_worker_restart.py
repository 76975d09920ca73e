"""A server restart while workers run loses no result (issue 9, ADR 0012): `stageline
serve --executor celery` is stopped with SIGTERM while a worker runs a job and another
job waits in the broker's queue, then started again on the same port and data dir.

The job on the worker is adopted, not run again: its log lines from before and after
the restart, its steps, outputs and result are in the record; the queued job runs when
the worker is free; the run goes on as its `needs` say.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.worker import protocol as p
from tests.support.postgres import fresh_database
from tests.support.workers import Cluster, cluster, redis_server

pytestmark = pytest.mark.slow


def workflow(marks: Path) -> str:
    """`across` blocks until the test creates `marks/go` (after the restart); `queued`
    waits in the queue meanwhile (the one worker runs one job at a time); `after`
    needs `across`'s output."""
    return f"""on: push
jobs:
  across:
    runs-on: ubuntu-latest
    outputs:
      word: ${{{{ steps.held.outputs.word }}}}
    steps:
      - name: Before
        run: echo ran >> {marks}/before.count && echo "before the restart"
      - name: Held
        id: held
        run: |
          echo "first line"
          touch {marks}/held
          while [ ! -e {marks}/go ]; do sleep 0.1; done
          echo "second line"
          echo "word=kept" >> "$GITHUB_OUTPUT"
      - name: After
        run: echo "after the restart"
  queued:
    runs-on: ubuntu-latest
    steps:
      - run: echo ran >> {marks}/queued.count && echo "the queued job ran"
  after:
    needs: across
    runs-on: ubuntu-latest
    steps:
      - run: echo "got ${{{{ needs.across.outputs.word }}}}"
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(fresh_database()) if request.param == "postgresql" else None


def log_of(team: Cluster, run_id: int, job: str) -> str:
    answer = team.http.get(f"/api/v1/runs/{run_id}/jobs/{job}/logs")
    assert answer.status_code == 200, answer.text
    return answer.text


def intruder_events(team: Cluster, attempt: str) -> int:
    """The status of a batch for `attempt` from a worker that does not run it, once the
    restarted server has adopted the attempt (503 until then)."""
    worker = httpx.Client(
        base_url=team.url, headers={"Authorization": f"Bearer {team.worker_token}"}, timeout=30
    )
    body = {"worker": "intruder", "seq": 10_000, "events": []}
    with worker:
        answer = worker.post(p.EVENTS.format(attempt=attempt), json=body)
        while answer.status_code == 503:
            time.sleep(0.2)
            answer = worker.post(p.EVENTS.format(attempt=attempt), json=body)
    return answer.status_code


def test_a_server_restart_adopts_the_running_job_and_runs_the_queued_one(
    tmp_path: Path, database: str | None
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {".github/workflows/restart.yml": workflow(marks)}
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url, database_url=database) as team,
    ):
        team.start_worker("w1", concurrency=1)
        run_id = team.push()
        team.wait(lambda: (marks / "held").exists(), "the held step to start")
        team.wait(
            lambda: "first line" in log_of(team, run_id, "across"),
            "the first line to reach the server",
        )
        held = team.job(run_id, "across")
        assert [s["name"] for s in held["steps"]][:2] == ["Before", "Held"], held

        team.wait(lambda: team.live_workers()["w1"]["current"], "w1's heartbeat to list its job")
        [current] = team.live_workers()["w1"]["current"]
        team.restart_server()
        assert intruder_events(team, current["attempt"]) == 409  # fencing holds
        (marks / "go").touch()

        document = team.finished(run_id)
        jobs = {job["job_id"]: job for job in document["jobs"]}
        assert document["conclusion"] == "success", team.diagnostics()
        assert {k: j["conclusion"] for k, j in jobs.items()} == {
            "across": "success",
            "queued": "success",
            "after": "success",
        }
        across = jobs["across"]
        assert [(s["name"], s["conclusion"]) for s in across["steps"]] == [
            ("Before", "success"),
            ("Held", "success"),
            ("After", "success"),
        ]
        assert across["outputs"] == {"word": "kept"}
        assert across["runner_name"] == "w1"
        # adopted, not run again: its first step ran once, the queued job once
        assert (marks / "before.count").read_text() == "ran\n"
        assert (marks / "queued.count").read_text() == "ran\n"
        text = log_of(team, run_id, "across")
        for line in ("before the restart", "first line", "second line", "after the restart"):
            assert line in text, text
        assert text.index("first line") < text.index("second line")
        assert "got kept" in log_of(team, run_id, "after")
        assert jobs["queued"]["runner_name"] == "w1"


def test_an_adopted_job_whose_worker_died_meanwhile_ends_lost(tmp_path: Path) -> None:
    """The worker dies while the server restarts: the adopted attempt's lease lapses,
    and the job ends "worker NAME lost" as when a worker dies; the run goes on."""
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {".github/workflows/restart.yml": workflow(marks)}
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(
            tmp_path / "celery", files, broker=redis.url, serve_args=["--no-worker-timeout", "5"]
        ) as team,
    ):
        worker = team.start_worker("w1", concurrency=1)
        run_id = team.push()
        team.wait(lambda: (marks / "held").exists(), "the held step to start")
        worker.kill()
        team.restart_server()

        document = team.finished(run_id, timeout=120)
        jobs = {job["job_id"]: job for job in document["jobs"]}
        assert jobs["across"]["conclusion"] == "failure", jobs["across"]
        assert "worker w1 lost" in str(jobs["across"]["reason"]), jobs["across"]
        assert jobs["after"]["conclusion"] == "skipped"
        assert document["conclusion"] == "failure"


def test_a_job_whose_lease_lapsed_while_the_server_was_down_ends_lost(tmp_path: Path) -> None:
    """The server stays down past the lease (`LEASE_S`) while the worker runs on: the
    restarted server ends the job "worker NAME lost", as its reaper ends any job whose
    lease lapsed, and the worker's late events and result are refused."""
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {".github/workflows/restart.yml": workflow(marks)}
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("w1", concurrency=1)
        run_id = team.push()
        team.wait(lambda: (marks / "held").exists(), "the held step to start")
        team.stop_server()
        time.sleep(p.LEASE_S + 2)  # down longer than the lease its last heartbeat gave
        team.launch_server()
        (marks / "go").touch()

        document = team.finished(run_id, timeout=120)
        jobs = {job["job_id"]: job for job in document["jobs"]}
        assert jobs["across"]["conclusion"] == "failure", jobs["across"]
        assert "worker w1 lost" in str(jobs["across"]["reason"]), jobs["across"]
        assert jobs["after"]["conclusion"] == "skipped"
        assert jobs["queued"]["conclusion"] == "success"
        assert document["conclusion"] == "failure"
        assert (marks / "before.count").read_text() == "ran\n"  # lost, not run again


def deploy_workflow(marks: Path) -> str:
    """A deploy job to `staging` that blocks until the test creates `marks/go`."""
    return f"""on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: |
          echo ran >> {marks}/deploy.count
          touch {marks}/held
          while [ ! -e {marks}/go ]; do sleep 0.1; done
"""


def deployments_of(team: Cluster, run_id: int) -> list[dict[str, Any]]:
    answer = team.http.get("/api/v1/deployments")
    assert answer.status_code == 200, answer.text
    rows = [d for d in answer.json() if d["run_id"] == run_id and d["kind"] == "deploy"]
    return sorted(rows, key=lambda d: int(d["id"]))


def staging(team: Cluster) -> dict[str, Any]:
    [found] = [e for e in team.http.get("/api/v1/environments").json() if e["name"] == "staging"]
    return dict(found)


def test_an_adopted_deploy_job_keeps_its_deployment(tmp_path: Path) -> None:
    """The job a worker runs across the restart deploys to `staging`: the resume leaves
    its deployment in progress (the worker still deploys), and the job's result
    concludes it; no second record is made."""
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {".github/workflows/deploy.yml": deploy_workflow(marks)}
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("w1", concurrency=1)
        run_id = team.push()
        team.wait(lambda: (marks / "held").exists(), "the deploy step to start")
        team.restart_server()
        (marks / "go").touch()

        document = team.finished(run_id)
        assert document["conclusion"] == "success", team.diagnostics()
        rows = deployments_of(team, run_id)
        assert [(d["job"], d["status"]) for d in rows] == [("deploy", "success")], rows
        env = staging(team)
        assert (env["current"], env["state"], env["deploying"]) == (rows[0]["id"], None, None)
        assert (marks / "deploy.count").read_text() == "ran\n"  # adopted, not deployed again


def test_a_deploy_whose_lease_lapsed_while_the_server_was_down_is_interrupted(
    tmp_path: Path,
) -> None:
    """Not adopted (its attempt is lost): the resume concludes the deployment as any
    interrupted one, and the job, lost, fails the record it deploys again under."""
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {".github/workflows/deploy.yml": deploy_workflow(marks)}
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("w1", concurrency=1)
        run_id = team.push()
        team.wait(lambda: (marks / "held").exists(), "the deploy step to start")
        team.stop_server()
        time.sleep(p.LEASE_S + 2)  # down longer than the lease its last heartbeat gave
        team.launch_server()
        (marks / "go").touch()

        document = team.finished(run_id, timeout=120)
        assert document["conclusion"] == "failure", team.diagnostics()
        first, again = deployments_of(team, run_id)  # the resumed job deployed again
        assert first["status"] == "failure", first
        assert str(first["reason"]).startswith("interrupted: "), first
        assert again["status"] == "failure", again
        assert "worker w1 lost" in str(again["reason"]), again
