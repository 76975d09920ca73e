"""`stageline workers` from a data dir and through a server, and `serve --executor
celery` (a real `stageline serve` process with a real Redis broker)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.app.serverdata import open_server
from stageline.worker import protocol as p
from tests.support.server import served, stageline


def _beat(data: Path, name: str, queues: list[str], seen: float) -> None:
    with open_server(data) as server:
        server.store.dispatch.worker_beat(
            name,
            queues=queues,
            concurrency=2,
            hostname="box",
            pid=7,
            version="1",
            current=[{"attempt": "a1", "run_id": 3, "job_key": "build"}],
            now=seen,
        )


def test_workers_lists_the_live_workers_of_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    none = stageline("workers", "--data-dir", str(data))
    assert none.returncode == 0, none.stderr
    assert none.stdout.startswith("no live worker")
    _beat(data, "gpu-1", ["gpu", "default"], time.time())
    _beat(data, "gone", ["default"], time.time() - 3600)
    listed = stageline("workers", "--data-dir", str(data), "--json")
    assert listed.returncode == 0, listed.stderr
    [worker] = json.loads(listed.stdout)
    assert (worker["name"], worker["queues"], worker["concurrency"]) == (
        "gpu-1",
        ["gpu", "default"],
        2,
    )
    assert worker["current"] == [{"attempt": "a1", "run_id": 3, "job_key": "build"}]
    table = stageline("workers", "--data-dir", str(data))
    assert "gpu-1" in table.stdout and "run 3 build" in table.stdout
    assert "gone" not in table.stdout


@pytest.mark.services
@pytest.mark.slow
def test_serve_with_the_celery_executor_lists_workers_through_the_api(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_server(data) as server:
        user = accounts.add_user(server, "vera", Role.VIEWER, [], None, by="test")
        token, _ = accounts.create_token(server, user, "t", "1d")
        worker = accounts.add_user(server, "w", Role.WORKER, [], None, by="test")
        worker_token, _ = accounts.create_token(server, worker, "t", "1d")
    broker = "redis://:hidden@127.0.0.1:6379/13"
    with served(data, "--executor", "celery", "--broker", broker, "--queue", "gpu*=gpu") as srv:
        beat = {"queues": ["gpu"], "concurrency": 1, "hostname": "h", "pid": 1, "version": "1"}
        with srv.client(worker_token) as client:
            answer = client.post(p.HEARTBEAT.format(name="w1"), json=beat)
            assert answer.status_code == 200, answer.text
        env = {**os.environ, "STAGELINE_TOKEN": token}
        listed = stageline_env(env, "workers", "--server", srv.url, "--json")
        assert [w["name"] for w in json.loads(listed)] == ["w1"]
        code, out, _ = srv.stop()
    assert code == 0
    assert "jobs go to workers through redis://:***@127.0.0.1:6379/13" in out


def stageline_env(env: dict[str, str], *args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_celery_options_need_the_celery_executor(tmp_path: Path) -> None:
    done = stageline("serve", "--data-dir", str(tmp_path / "d"), "--broker", "redis://x")
    assert done.returncode == 1
    assert "need --executor celery" in done.stderr and "Traceback" not in done.stderr
    bad = stageline("serve", "--data-dir", str(tmp_path / "d"), "--executor", "k8s")
    assert bad.returncode == 1 and "unknown executor 'k8s'" in bad.stderr
    queue = stageline(
        "serve", "--data-dir", str(tmp_path / "d"), "--executor", "celery", "--queue", "gpu"
    )
    assert queue.returncode == 1 and "expected LABEL=QUEUE" in queue.stderr
