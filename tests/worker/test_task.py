"""The task's body in this process, against the agent stub: what reaches the server
when a claim is refused, when the worker itself fails, and when the server says an
attempt is stale."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from stageline.runner.contract import JobRequest
from stageline.runner.ports import JobPorts
from stageline.worker.heartbeat import Attempts, Cancel, Running
from stageline.worker.protocol import BeatReply, TaskArgs
from stageline.worker.task import Assignment, WorkerConfig, run_attempt
from tests.engine.conftest import job
from tests.worker.stub import AgentStub


def _config(stub: AgentStub, tmp_path: Path) -> WorkerConfig:
    return WorkerConfig(server=stub.url, token=stub.token, name="w1", cache_dir=tmp_path)


def test_a_refused_claim_returns_and_reports_nothing(tmp_path: Path) -> None:
    stub = AgentStub()
    stub.start()

    async def never(job: Assignment) -> JobPorts:
        raise AssertionError("a refused attempt must not run")

    try:
        run_attempt(TaskArgs("gone", 1, "build"), _config(stub, tmp_path), Attempts(), never)
    finally:
        stub.stop()
    assert [c.route for c in stub.calls] == ["claim"]


def test_a_fault_of_the_worker_still_ends_the_job_as_a_failure_with_the_reason(
    tmp_path: Path,
) -> None:
    stub = AgentStub()
    request = JobRequest(run_id="3", job=job("build"), contexts={}, sha="a" * 40, ref="")
    stub.claims["a1"] = {"request": request.to_dict(), "repo": "demo"}
    stub.start()
    attempts = Attempts()

    async def broken(job: Assignment) -> JobPorts:
        assert attempts.ids() == ["a1"]  # the heartbeat extends its lease meanwhile
        assert job.repo == "demo" and job.request.sha == "a" * 40
        raise OSError("disk full")

    try:
        run_attempt(TaskArgs("a1", 3, "build"), _config(stub, tmp_path), attempts, broken)
    finally:
        stub.stop()
    (finish,) = stub.of("finish", "a1")
    assert finish.body["result"]["conclusion"] == "failure"
    assert finish.body["result"]["reason"] == "worker w1 failed: disk full"
    assert attempts.ids() == []
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []


def test_a_heartbeat_reply_sets_the_tokens_it_names_from_another_thread() -> None:
    attempts = Attempts()
    stopped: list[str] = []

    async def main() -> tuple[str | None, bool]:
        loop = asyncio.get_running_loop()
        cancelled, stale, other = Cancel(loop), Cancel(loop), Cancel(loop)
        attempts.add("a", Running(cancelled, cancelled.set))
        attempts.add("b", Running(stale, stopped.append))
        attempts.add("c", Running(other, other.set))
        reply = BeatReply(cancel={"a": "cancelled by bob", "zz": "x"}, stale=["b"])
        thread = threading.Thread(target=attempts.apply, args=(reply,))
        thread.start()
        await asyncio.wait_for(cancelled.wait(), 10)
        thread.join()
        return cancelled.reason, other.is_set()

    reason, other_set = asyncio.run(main())
    assert reason == "cancelled by bob" and not other_set
    assert stopped == ["the server says the attempt is no longer this worker's"]


def test_a_job_the_worker_cannot_read_ends_as_a_failure(tmp_path: Path) -> None:
    stub = AgentStub()
    stub.claims["a5"] = {"request": {"run_id": "3"}, "repo": "demo"}  # no job
    stub.start()

    async def never(job: Assignment) -> JobPorts:
        raise AssertionError("an unreadable job must not run")

    try:
        run_attempt(TaskArgs("a5", 3, "build"), _config(stub, tmp_path), Attempts(), never)
    finally:
        stub.stop()
    (finish,) = stub.of("finish", "a5")
    assert finish.body["seq"] == 0 and finish.body["result"]["conclusion"] == "failure"
    assert finish.body["result"]["reason"].startswith("worker w1 cannot read the job: KeyError")
