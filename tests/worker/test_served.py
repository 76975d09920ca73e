"""`stageline worker` against the real server (`serve --executor celery`): a real Redis
broker, the server on a free port, and the worker as its own process; the workspace
comes over git HTTP, the logs and results through the agent API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.server.api.test_agent import BROKER, Agent, make_agent, until

pytestmark = [pytest.mark.slow, pytest.mark.services]
__all__ = ["make_agent"]  # the fixture


def test_a_run_goes_over_a_worker_and_is_recorded_as_by_the_local_executor(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent()
    token = str(agent.worker.headers["Authorization"]).removeprefix("Bearer ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["STAGELINE_TOKEN"] = token
    output = tmp_path / "worker.log"
    with output.open("wb") as out:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "stageline", "worker", "--server", agent.url),
                *("--broker", BROKER, "--queues", agent.queue, "--name", "box-1"),
                *("--cache-dir", str(tmp_path / "cache")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        run_id = agent.start_run()
        detail = agent.ended(run_id)
        jobs = {j.key: j for j in detail.jobs}
        assert detail.run.conclusion == "success", output.read_text()
        assert jobs["build"].conclusion == "success" and jobs["after"].conclusion == "skipped"
        assert jobs["build"].runner_name == "box-1"
        [step] = jobs["build"].steps
        assert step.log_path and Path(step.log_path).is_file()
        assert "hello\n" in Path(step.log_path).read_text()
        assert step.log_size == Path(step.log_path).stat().st_size
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output.read_text()
    assert until(lambda: (tmp_path / "cache" / "repos").is_dir())
