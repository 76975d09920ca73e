"""`stageline worker` against the real server (`serve --executor celery`): a real Redis
broker, the server on a free port, and each worker as its own process; workspaces come
over git HTTP, logs, results and artifacts through the agent API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.server.api.test_agent import BROKER, Agent, make_agent, until
from tests.support.git import git

pytestmark = [pytest.mark.slow, pytest.mark.services]
__all__ = ["make_agent"]  # the fixture


@contextmanager
def running_worker(agent: Agent, queue: str, name: str, root: Path) -> Iterator[Path]:
    """`stageline worker` on `queue` for the block; yields its output file. It must
    stop cleanly on SIGTERM (a warm shutdown)."""
    token = str(agent.worker.headers["Authorization"]).removeprefix("Bearer ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["STAGELINE_TOKEN"] = token
    output = root / f"{name}.log"
    with output.open("wb") as out:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "stageline", "worker", "--server", agent.url),
                *("--broker", BROKER, "--queues", queue, "--name", name),
                *("--cache-dir", str(root / f"cache-{name}")),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield output
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output.read_text()


def _commit(agent: Agent, workflow: str) -> None:
    (agent.project / ".github/workflows/ci.yml").write_text(workflow)
    git(agent.project, "commit", "-qam", "workflow")


def test_a_run_goes_over_a_worker_and_is_recorded_as_by_the_local_executor(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent()
    with running_worker(agent, agent.queue, "box-1", tmp_path) as output:
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
    assert (tmp_path / "cache-box-1" / "repos").is_dir()


CANCEL = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "pid $$"; exec sleep 300
      - run: echo never
"""


def test_cancelling_a_run_kills_its_step_on_the_worker(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent()
    _commit(agent, CANCEL)
    with running_worker(agent, agent.queue, "box-1", tmp_path) as output:
        run_id = agent.start_run()

        def pid() -> int | None:
            [job] = agent.store().runs.get_run(run_id).jobs
            log = job.steps[0].log_path if job.steps else None
            found = re.search(r"^pid (\d+)$", Path(log).read_text(), re.M) if log else None
            return int(found[1]) if found else None

        sleeping = until(pid)
        os.kill(sleeping, 0)  # the step runs
        agent.host.cancel(run_id, "alice")
        detail = agent.ended(run_id)
        assert detail.run.conclusion == "cancelled", output.read_text()
        assert [s.conclusion for s in detail.jobs[0].steps][:1] == ["cancelled"]
        with pytest.raises(ProcessLookupError):
            os.kill(sleeping, 0)


ARTIFACT = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir out && echo "built on $(hostname)" > out/app.txt
      - uses: actions/upload-artifact@v4
        with:
          name: app
          path: out
  deploy:
    needs: build
    runs-on: [self-hosted, gpu]
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: app
          path: got
      - run: cat got/app.txt
"""


def test_an_artifact_uploaded_on_one_worker_is_downloaded_on_the_other(
    make_agent: Callable[..., Agent], tmp_path: Path
) -> None:
    agent = make_agent()
    _commit(agent, ARTIFACT)
    with ExitStack() as workers:
        outputs = [
            workers.enter_context(running_worker(agent, agent.queue, "cpu-1", tmp_path)),
            workers.enter_context(running_worker(agent, agent.queue + "-gpu", "gpu-1", tmp_path)),
        ]
        run_id = agent.start_run()
        detail = agent.ended(run_id)
        logs = "".join(o.read_text() for o in outputs)
        assert detail.run.conclusion == "success", logs
    jobs = {j.key: j for j in detail.jobs}
    assert (jobs["build"].runner_name, jobs["deploy"].runner_name) == ("cpu-1", "gpu-1")
    printed = Path(str(jobs["deploy"].steps[1].log_path)).read_text()
    assert "built on " in printed
