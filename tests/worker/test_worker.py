"""`stageline worker` end to end: a real Redis broker, a worker process, and the agent
API's stub (tests.worker.stub) on a free port; jobs really run their steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu import Connection

from stageline.runner.contract import JobRequest
from stageline.worker.protocol import TASK_NAME, TaskArgs, celery_app
from tests.engine.conftest import job, step
from tests.support.git import git
from tests.worker.stub import AgentStub

REDIS = "redis://127.0.0.1:6379/0"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@dataclass
class Worker:
    broker: str
    stub: AgentStub
    queue: str
    name: str
    repo: Path
    sha: str
    process: subprocess.Popen[bytes]
    modules_file: Path
    output: Path

    def send(
        self, attempt: str, steps: list[Any] | None, *, secrets: dict[str, str] | None = None
    ) -> None:
        """Queue the attempt; with `steps`, the stub answers its claim with that job."""
        if steps is not None:
            request = JobRequest(
                run_id="7",
                job=job("build", steps=steps),
                contexts={},
                sha=self.sha,
                ref="refs/heads/main",
                secrets=secrets or {},
            )
            self.stub.claims[attempt] = {"request": request.to_dict(), "repo": "demo"}
        app = celery_app(self.broker)
        try:
            app.send_task(
                TASK_NAME, kwargs=TaskArgs(attempt, 7, "build").to_dict(), queue=self.queue
            )
        finally:
            app.close()

    def finished(self, attempt: str) -> dict[str, Any]:
        calls = self.stub.wait_for(lambda: self.stub.of("finish", attempt), timeout=60)
        body: dict[str, Any] = calls[0].body
        return body

    def stop(self) -> list[str]:
        """SIGTERM (a warm shutdown); the modules the process had loaded."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(self.output.read_text()) from None
        loaded: list[str] = json.loads(self.modules_file.read_text())
        return loaded


@pytest.fixture
def broker() -> str:
    return REDIS


@pytest.fixture
def worker(tmp_path: Path, broker: str) -> Iterator[Worker]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "greeting.txt").write_text("hello from the repository\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    stub = AgentStub()
    stub.start()
    queue = f"test-worker-{uuid.uuid4().hex[:12]}"
    name = f"w-{queue}"
    modules_file = tmp_path / "modules.json"
    output = tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["STAGELINE_TOKEN"] = stub.token
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.worker.localworker", str(repo), str(modules_file)),
                *("--", "--server", stub.url, "--broker", broker, "--queues", queue),
                *("--name", name, "--concurrency", "2", "--cache-dir", str(tmp_path / "cache")),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    found = Worker(
        broker,
        stub,
        queue,
        name,
        repo,
        git(repo, "rev-parse", "HEAD"),
        process,
        modules_file,
        output,
    )
    try:
        stub.wait_for(lambda: stub.of("heartbeat") or process.poll() is not None, timeout=60)
        assert process.poll() is None, output.read_text()
        yield found
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stub.stop()
        _delete(broker, queue)


def _delete(broker: str, queue: str) -> None:
    with Connection(broker) as conn:
        conn.default_channel.queue_delete(queue)


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ])
def test_a_job_runs_its_steps_and_the_server_gets_masked_logs_steps_and_the_result(
    worker: Worker,
) -> None:
    steps = [
        step(
            0,
            'echo start; echo "the token is $TOKEN"; cat greeting.txt',
            env={"TOKEN": "${{ secrets.TOKEN }}"},
        ),
        step(1, "echo second step; exit 3"),
    ]
    worker.send("att-1", steps, secrets={"TOKEN": "s3cr3t-value"})
    done = worker.finished("att-1")
    events = worker.stub.events("att-1")
    assert done["worker"] == worker.name
    assert done["seq"] == max(c.body["seq"] for c in worker.stub.of("events", "att-1"))
    assert done["result"]["conclusion"] == "failure"
    assert [s["conclusion"] for s in done["result"]["steps"]] == ["success", "failure"]
    claim = worker.stub.of("claim", "att-1")
    assert [c.body for c in claim] == [{"worker": worker.name}]

    kinds = [(e["kind"], e.get("index")) for e in events if e["kind"] != "write"]
    assert kinds[0] == ("step_started", 0) and ("step_started", 1) in kinds
    lines = [e["line"] for e in events if e["kind"] == "log" and e["index"] == 0]
    assert "start" in lines and "the token is ***" in lines
    assert "hello from the repository" in lines
    assert "s3cr3t-value" not in repr(worker.stub.calls)
    written = "".join(e["text"] for e in events if e["kind"] == "write" and e["index"] == 0)
    assert "the token is ***\n" in written
    finished = [e["result"] for e in events if e["kind"] == "step_finished"]
    assert [r["conclusion"] for r in finished] == ["success", "failure"]
    assert finished[1]["exit_code"] == 3
    assert finished[0]["log_path"] == "remote:build/0"
    assert finished[0]["log_size"] == len(written.encode())

    beats = worker.stub.of("heartbeat")
    assert beats[0].body["queues"] == [worker.queue] and beats[0].body["concurrency"] == 2

    loaded = worker.stop()
    assert "stageline.runner.job" in loaded and "stageline.worker.task" in loaded
    assert [m for m in loaded if m.startswith(("stageline.engine", "stageline.store"))] == []


def test_a_refused_claim_drops_the_task_and_the_worker_goes_on(worker: Worker) -> None:
    worker.send("att-gone", None)  # the stub has no claim for it: 409
    worker.stub.wait_for(lambda: worker.stub.of("claim", "att-gone"))
    worker.send("att-2", [step(0, "echo fine")])
    done = worker.finished("att-2")
    assert done["result"]["conclusion"] == "success"
    assert worker.stub.of("events", "att-gone") == [] and worker.stub.of("finish", "att-gone") == []
    worker.stop()
    # both messages were acknowledged: nothing waits in the queue or unacked
    broker = redis.Redis.from_url(REDIS)
    assert broker.llen(worker.queue) == 0
    unacked = [json.loads(v) for v in broker.hvals("unacked")]
    assert not any(worker.queue in json.dumps(u) for u in unacked)


def test_a_cancel_in_the_heartbeat_reply_kills_the_running_steps(worker: Worker) -> None:
    """Two jobs run at once (concurrency 2); the one heartbeat lists both, and its reply
    stops both."""
    attempts = ["att-3", "att-3b"]
    for attempt in attempts:
        worker.send(attempt, [step(0, "echo pid $$; exec sleep 300"), step(1, "echo never")])

    def pids() -> list[int] | None:
        found = [
            int(e["line"].removeprefix("pid "))
            for attempt in attempts
            for e in worker.stub.events(attempt)
            if e["kind"] == "log" and e["line"].startswith("pid ")
        ]
        return found if len(found) == 2 else None

    sleeping = worker.stub.wait_for(pids)
    for pid in sleeping:
        os.kill(pid, 0)  # the steps run
    worker.stub.wait_for(
        lambda: [b for b in worker.stub.of("heartbeat") if b.body["attempts"] == attempts]
    )
    worker.stub.cancel.update({a: "cancelled by alice" for a in attempts})
    for attempt in attempts:
        done = worker.finished(attempt)
        assert done["result"]["conclusion"] == "cancelled"
        assert done["result"]["steps"][0]["conclusion"] == "cancelled"
    for pid in sleeping:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    worker.stop()


def test_events_of_a_running_job_survive_a_server_outage(worker: Worker) -> None:
    worker.send("att-4", [step(0, "for i in $(seq 1 30); do echo line $i; sleep 0.1; done")])
    worker.stub.wait_for(lambda: worker.stub.of("events", "att-4"))
    worker.stub.stop()
    time.sleep(2.5)  # the job goes on printing while the server is away
    worker.stub.start()
    done = worker.finished("att-4")
    assert done["result"]["conclusion"] == "success"
    events = worker.stub.events("att-4")
    lines = [e["line"] for e in events if e["kind"] == "log" and e["line"].startswith("line ")]
    assert lines == [f"line {i}" for i in range(1, 31)]
    worker.stop()
