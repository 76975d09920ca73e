"""Jobs on Celery workers, end to end (issue 9, ADR 0012): `stageline serve --executor
celery` on a free port, a broker (a private redis-server, or the shared RabbitMQ under
queue names of the test's own), and `stageline worker` subprocesses on different queues.

The same workflows run on a server with the local executor give the record the workers
must give: the same jobs, conclusions, outputs, step names and artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import environ
from tests.support.workers import (
    RABBITMQ,
    Cluster,
    cluster,
    delete_queues,
    redis_server,
    shape,
)

pytestmark = pytest.mark.slow

ARTICLE = Path(__file__).parent / "fixtures" / "multi-stage.yml"
#: Seconds after which a job no live worker serves fails (the server's setting).
NO_WORKER_TIMEOUT = "5"

#: build (checkout, an output, an artifact) on the default queue → train on the gpu
#: queue downloads it → report uses both jobs' outputs.
PIPELINE = """name: pipeline
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.version.outputs.version }}
    steps:
      - uses: actions/checkout@v4
      - name: Version
        id: version
        run: echo "version=1.$(cat minor.txt)" >> "$GITHUB_OUTPUT"
      - name: Package
        run: mkdir dist && echo "built from minor $(cat minor.txt)" > dist/app.txt
      - uses: actions/upload-artifact@v4
        with:
          name: app
          path: dist/
  train:
    needs: build
    runs-on: [self-hosted, gpu]
    outputs:
      model: ${{ steps.use.outputs.model }}
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: app
          path: got
      - name: Use the artifact
        id: use
        run: echo "model=$(cat got/app.txt)" >> "$GITHUB_OUTPUT"
  report:
    needs: [build, train]
    runs-on: ubuntu-latest
    steps:
      - name: Report
        run: echo "version ${{ needs.build.outputs.version }} ${{ needs.train.outputs.model }}"
"""
PIPELINE_FILES = {".github/workflows/pipeline.yml": PIPELINE, "minor.txt": "7\n"}


def article_files(deploy_log: Path) -> dict[str, str]:
    """The article's workflow verbatim, with the package.json and deploy scripts it
    calls (as tests/e2e/test_multi_stage_example.py makes them)."""
    scripts = {
        "build": "node -e \"require('fs').writeFileSync('build.txt', 'built')\"",
        "test": "node -e \"console.log('tests ran')\"",
    }
    package = {"name": "app", "version": "1.0.0", "private": True, "scripts": scripts}
    files = {
        ".github/workflows/ci.yml": ARTICLE.read_text(),
        "package.json": json.dumps(package),
    }
    for env in ("staging", "production"):
        files[f"deploy-{env}.sh"] = f'#!/bin/sh\nset -e\necho "{env}" >> "{deploy_log}"\n'
    return files


def assert_same_record(
    team: Cluster, got: dict[str, Any], local: Cluster, expected: dict[str, Any]
) -> None:
    """The workers' record has the local executor's shape, job by job."""
    got_shape, want = shape(got, team.root), shape(expected, local.root)
    assert sorted(got_shape["jobs"]) == sorted(want["jobs"])
    for job, wanted in want["jobs"].items():
        assert got_shape["jobs"][job] == wanted, job
    assert got_shape == want


def runners(document: dict[str, Any]) -> dict[str, str | None]:
    return {job["job_id"]: job["runner_name"] for job in document["jobs"]}


def moment(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def marks(tmp_path: Path) -> Iterator[Path]:
    """A directory where steps write the pid of what they run; those still running
    are killed at the end (a job of a worker killed with SIGKILL outlives it)."""
    where = tmp_path / "marks"
    where.mkdir()
    yield where
    for mark in where.glob("*.pid"):
        text = mark.read_text().strip()
        if text.isdigit() and alive(int(text)):
            os.kill(int(text), signal.SIGKILL)


def test_a_pipeline_over_two_workers_gives_the_local_record(tmp_path: Path) -> None:
    with cluster(tmp_path / "local", PIPELINE_FILES, executor="local") as local:
        expected = local.finished(local.push())
    assert expected["conclusion"] == "success", local.diagnostics()

    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", PIPELINE_FILES, broker=redis.url) as team,
    ):
        team.start_worker("cpu-1", ["default"], concurrency=2)
        team.start_worker("gpu-1", ["gpu"])
        document = team.finished(team.push())

        assert_same_record(team, document, local, expected)
        # the gpu job ran on the gpu worker, the others on the default queue's
        assert runners(document) == {"build": "cpu-1", "train": "gpu-1", "report": "cpu-1"}
        # the artifact uploaded on cpu-1 was downloaded on gpu-1
        train = next(job for job in document["jobs"] if job["job_id"] == "train")
        assert train["outputs"] == {"model": "built from minor 7"}
        # the local executor names its host
        assert set(runners(expected).values()) == {socket.gethostname()}
        # logs were streamed to the server's log dir, as for a local job
        logs = team.http.get(f"/api/v1/runs/{document['run_id']}/jobs/report/logs")
        assert logs.status_code == 200, logs.text
        assert "version 1.7 built from minor 7" in logs.text


@pytest.mark.skipif(shutil.which("npm") is None, reason="the article's steps run npm")
def test_the_articles_workflow_over_workers_gives_the_local_record(tmp_path: Path) -> None:
    local_log, worker_log = tmp_path / "local-deploys.log", tmp_path / "worker-deploys.log"
    with cluster(tmp_path / "local", article_files(local_log), executor="local") as local:
        expected = local.finished(local.push())
    assert expected["conclusion"] == "success", local.diagnostics()

    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", article_files(worker_log), broker=redis.url) as team,
    ):
        team.start_worker("w1")
        team.start_worker("w2")
        document = team.finished(team.push())

        assert_same_record(team, document, local, expected)
        assert set(runners(document).values()) <= {"w1", "w2"}
        assert worker_log.read_text().split() == ["staging", "production"]


def test_a_job_no_worker_serves_waits_then_fails_with_the_reason(tmp_path: Path) -> None:
    files = {
        ".github/workflows/gpu.yml": """on: push
jobs:
  train:
    runs-on: [self-hosted, gpu]
    steps:
      - run: echo never
  tidy:
    needs: train
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo tidied
"""
    }
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(
            tmp_path / "celery",
            files,
            broker=redis.url,
            serve_args=["--no-worker-timeout", NO_WORKER_TIMEOUT],
        ) as team,
    ):
        team.start_worker("cpu-1")
        run_id = team.push()
        reason = "no worker serves [self-hosted, gpu]"
        team.wait(
            lambda: reason in str(team.job(run_id, "train").get("waiting_for")),
            "train to wait for a worker",
        )
        document = team.finished(run_id)

        jobs = {job["job_id"]: job for job in document["jobs"]}
        assert jobs["train"]["conclusion"] == "failure"
        assert reason in str(jobs["train"]["reason"]), jobs["train"]
        assert jobs["tidy"]["conclusion"] == "success"
        assert jobs["tidy"]["runner_name"] == "cpu-1"
        assert document["conclusion"] == "failure"


def test_a_worker_killed_mid_job_ends_its_job_lost_and_the_run_goes_on(
    tmp_path: Path, marks: Path
) -> None:
    files = {
        ".github/workflows/lost.yml": f"""on: push
jobs:
  long:
    runs-on: [self-hosted, doomed]
    steps:
      - run: echo $$ > {marks}/long.pid && exec sleep 120
  cleanup:
    needs: long
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo cleaning up
  deploy:
    needs: long
    runs-on: ubuntu-latest
    steps:
      - run: echo never deployed
"""
    }
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        doomed = team.start_worker("doomed", ["doomed"])
        team.start_worker("survivor", ["default"])
        run_id = team.push()
        team.wait(lambda: (marks / "long.pid").exists(), "the long step to start")
        killed_at = time.time()
        doomed.kill(signal.SIGKILL)

        document = team.finished(run_id, timeout=120)
        jobs = {job["job_id"]: job for job in document["jobs"]}
        assert jobs["long"]["conclusion"] == "failure", jobs["long"]
        assert "worker doomed lost" in str(jobs["long"]["reason"]), jobs["long"]
        assert jobs["long"]["runner_name"] == "doomed"
        # within the lease (30 s), give or take the reaper's second and the poll
        assert moment(jobs["long"]["finished_at"]) - killed_at < 30 + 10
        assert jobs["cleanup"]["conclusion"] == "success"
        assert jobs["cleanup"]["runner_name"] == "survivor"
        assert jobs["deploy"]["conclusion"] == "skipped"
        assert document["conclusion"] == "failure"


def test_cancelling_a_running_job_kills_it_on_the_worker(tmp_path: Path, marks: Path) -> None:
    files = {
        ".github/workflows/slow.yml": f"""on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: echo $$ > {marks}/slow.pid && exec sleep 120
      - run: echo never
"""
    }
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("w1")
        run_id = team.push()
        team.wait(lambda: (marks / "slow.pid").exists(), "the slow step to start")
        pid = int((marks / "slow.pid").read_text())
        assert alive(pid)
        team.cancel(run_id)

        # a heartbeat (2 s) tells the worker; SIGTERM, then SIGKILL after 5 s of grace
        team.wait(
            lambda: team.job(run_id, "slow")["status"] == "completed",
            "the cancelled job to end",
            timeout=2 + 5 + 5,
        )
        job = team.job(run_id, "slow")
        assert job["conclusion"] == "cancelled", job
        assert job["runner_name"] == "w1"
        assert not alive(pid)
        assert team.finished(run_id)["conclusion"] == "cancelled"


@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "no-persistence"])
def test_a_queued_job_survives_a_broker_restart(
    tmp_path: Path, marks: Path, persistent: bool
) -> None:
    """With an append-only file the queued task is still in Redis; without one it is
    lost with it, and the server sends it again (RESEND_S, 30 s, after its send)."""
    files = {
        ".github/workflows/two.yml": f"""on: push
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo $$ > {marks}/one.pid && sleep 6
  two:
    runs-on: ubuntu-latest
    steps:
      - run: echo $$ > {marks}/two.pid && sleep 6
"""
    }
    with (
        redis_server(tmp_path / "redis", persistent) as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("solo", concurrency=1)  # one job at a time: the other stays queued
        run_id = team.push()
        team.wait(
            lambda: any(marks.glob("*.pid")),
            "one of the jobs to start",
        )
        (first,) = [mark.stem for mark in marks.glob("*.pid")]
        redis.restart()
        restarted = time.time()

        document = team.finished(run_id, timeout=180)
        assert {j["job_id"]: j["conclusion"] for j in document["jobs"]} == {
            "one": "success",
            "two": "success",
        }, team.diagnostics()
        assert set(runners(document).values()) == {"solo"}
        # the other job was in the broker's queue when it restarted
        (queued,) = [job for job in document["jobs"] if job["job_id"] != first]
        assert moment(queued["steps"][0]["started_at"]) > restarted, queued


def test_rabbitmq_carries_jobs_and_an_artifact_between_workers(tmp_path: Path) -> None:
    tag = f"e2e-{uuid.uuid4().hex[:10]}"
    first, second = f"{tag}-a", f"{tag}-b"
    files = {
        ".github/workflows/rabbit.yml": f"""on: push
jobs:
  make:
    runs-on: [self-hosted, {first}]
    steps:
      - run: mkdir out && echo "made by make" > out/made.txt
      - uses: actions/upload-artifact@v4
        with:
          name: made
          path: out/
  take:
    needs: make
    runs-on: [self-hosted, {second}]
    outputs:
      got: ${{{{ steps.read.outputs.got }}}}
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: made
      - id: read
        run: echo "got=$(cat made.txt)" >> "$GITHUB_OUTPUT"
"""
    }
    try:
        with cluster(tmp_path / "celery", files, broker=RABBITMQ) as team:
            team.start_worker("rabbit-a", [first])
            team.start_worker("rabbit-b", [second])
            document = team.finished(team.push())

            assert document["conclusion"] == "success", team.diagnostics()
            assert runners(document) == {"make": "rabbit-a", "take": "rabbit-b"}
            take = next(job for job in document["jobs"] if job["job_id"] == "take")
            assert take["outputs"] == {"got": "made by make"}
    finally:
        delete_queues(RABBITMQ, [first, second])


def test_stageline_workers_lists_the_live_workers(tmp_path: Path) -> None:
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", PIPELINE_FILES, broker=redis.url) as team,
    ):
        team.start_worker("cpu-1", ["default"], concurrency=2)
        team.start_worker("gpu-1", ["gpu", "default"])
        workers = team.live_workers()
        assert set(workers) == {"cpu-1", "gpu-1"}
        assert sorted(workers["gpu-1"]["queues"]) == ["default", "gpu"]
        listed = subprocess.run(
            [sys.executable, "-m", "stageline", "workers", "--server", team.url],
            capture_output=True,
            text=True,
            env=environ(STAGELINE_TOKEN=team.token),
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert "cpu-1" in listed.stdout and "gpu-1" in listed.stdout, listed.stdout
