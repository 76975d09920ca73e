"""A rollback on a server with workers re-runs the deploy job on a worker (issue 9, ADR
0012): the re-run is a new attempt of the finished job (`rollback id + 1`), sent through
the dispatcher like any job, never run on the server's own machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.workers import cluster, redis_server

pytestmark = pytest.mark.slow


def test_a_rollback_reruns_the_deploy_job_on_a_worker(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    files = {
        ".github/workflows/deploy.yml": f"""on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - run: echo "$(cat version.txt) $PWD" >> {marks}/deploys.txt
""",
        "version.txt": "1\n",
    }
    with (
        redis_server(tmp_path / "redis") as redis,
        cluster(tmp_path / "celery", files, broker=redis.url) as team,
    ):
        team.start_worker("w1")
        first = team.finished(team.push())
        second = team.finished(team.push({"version.txt": "2\n"}))
        assert (first["conclusion"], second["conclusion"]) == ("success", "success")

        started = team.http.post("/api/v1/environments/staging/rollback", json={})
        assert started.status_code == 202, started.text + team.diagnostics()
        done = started.json()
        deadline = time.monotonic() + 60
        while done["status"] == "in_progress" and time.monotonic() < deadline:
            time.sleep(0.2)
            done = team.http.get(started.headers["location"]).json()
        assert "rolled back to deployment #1" in (done["reason"] or ""), done

        answer = team.http.get("/api/v1/deployments")
        assert answer.status_code == 200, answer.text
        rows = sorted(answer.json(), key=lambda d: d["id"])
        assert [d["kind"] for d in rows] == ["deploy", "deploy", "rollback"]
        assert rows[2]["status"] == "success", rows[2]
        assert rows[2]["restores"] == rows[0]["id"]
        assert rows[2]["sha"] == first["sha"]

    deploys = [line.split(" ", 1) for line in (marks / "deploys.txt").read_text().splitlines()]
    assert [version for version, _ in deploys] == ["1", "2", "1"]
    # every deploy, the rollback's too, ran in a workspace of the worker's
    worker_cache = tmp_path / "celery" / "worker-w1-cache"
    for _, where in deploys:
        assert Path(where).is_relative_to(worker_cache), deploys
