"""`stageline worker` refuses to start, in one clear line, without what it needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.http import free_port
from tests.worker.stub import AgentStub


def _worker(*args: str, token: str | None = "worker-token") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    if token is not None:
        env["STAGELINE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "stageline", "worker", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_missing_token_is_named() -> None:
    done = _worker("--server", "http://127.0.0.1:9", token=None)
    assert done.returncode == 1
    assert "$STAGELINE_TOKEN is not set" in done.stderr
    assert "--role worker" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _worker("--server", url)
    assert done.returncode == 1
    assert f"cannot reach the server at {url}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_token_is_named() -> None:
    stub = AgentStub()
    stub.start()
    try:
        done = _worker("--server", stub.url, token="wrong")
    finally:
        stub.stop()
    assert done.returncode == 1
    assert "refused the worker's token (HTTP 401)" in done.stderr
    assert "worker (or admin) role" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_broker_is_named_without_its_password(tmp_path: Path) -> None:
    stub = AgentStub()
    stub.start()
    broker = f"amqp://guest:hunter2@127.0.0.1:{free_port()}//"
    try:
        done = _worker("--server", stub.url, "--broker", broker, "--cache-dir", str(tmp_path))
    finally:
        stub.stop()
    assert done.returncode == 1
    assert "cannot reach the broker at amqp://guest:**@127.0.0.1" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert [c.route for c in stub.calls] == ["heartbeat"]


def test_no_queue_is_a_usage_error() -> None:
    done = _worker("--server", "http://127.0.0.1:9", "--queues", " , ")
    assert done.returncode == 1 and "--queues names no queue" in done.stderr


def test_a_server_that_refuses_workers_says_why() -> None:
    stub = AgentStub(stale={"w9"})
    stub.start()
    try:
        done = _worker("--server", stub.url, "--name", "w9")
    finally:
        stub.stop()
    assert done.returncode == 1
    assert f"the server at {stub.url} refused the worker (HTTP 409): w9 is refused" in done.stderr
