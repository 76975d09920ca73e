"""`stageline serve` as a real process: ready when health answers, SIGTERM stops it
gracefully, and what a dead server left is reaped or resumed on the next start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app.serverdata import open_server
from tests.support.postgres import fresh_database
from tests.support.server import (
    PLAIN_WORKFLOW,
    environ,
    gated_source,
    make_source,
    served,
    stageline,
    wait_until,
)

pytestmark = pytest.mark.slow

#: A server process that starts one run of repository `web` and then only waits,
#: as a server does while the run goes on; killed by the test.
START_A_RUN = """
import sys, threading
from pathlib import Path
from stageline.app import repos
from stageline.app.host import RunHost
from stageline.app.runs import prepare
from stageline.app.serverdata import open_server
from tests.support.postgres import fresh_database
from stageline.engine.setup import RunOptions

with open_server(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None) as server:
    repo = repos.get_repo(server, "web")
    root = repos.checkout(server, repo, repos.fetch(server, repo, "main"), "refs/heads/main")
    [run_id] = RunHost(server).start(prepare(RunOptions(cwd=root)), repo, "alice")
    print(run_id, flush=True)
    threading.Event().wait()
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def record(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Where the server keeps its record: None for the data dir's SQLite file, else a
    fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield None
        return
    with fresh_database() as url:
        yield url


def _url_args(url: str | None) -> list[str]:
    return ["--database-url", url] if url else []


def _run(data_dir: Path, run_id: int, url: str | None = None) -> tuple[str, str | None, str | None]:
    with open_server(data_dir, url) as server:
        run = server.store.runs.get_run(run_id).run
        return run.status, run.conclusion, run.reason


def _dead_server_with_a_run(data_dir: Path, until: str, url: str | None = None) -> tuple[int, int]:
    """Start a run in a server process, SIGKILL it once the run is `until`; (run id, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-c", START_A_RUN, str(data_dir), *([url] if url else [])],
        stdout=subprocess.PIPE,
        text=True,
        env=environ(),
    )
    assert process.stdout is not None
    run_id = int(process.stdout.readline())
    wait_until(lambda: _run(data_dir, run_id, url)[0] == until, f"the run to be {until}")
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return run_id, process.pid


def _register(data_dir: Path, source: Path, url: str | None = None) -> None:
    where = ["--data-dir", str(data_dir), *_url_args(url)]
    done = stageline("repo", "add", "web", "--url", str(source), *where)
    assert done.returncode == 0, done.stderr


def test_serve_answers_health_once_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with served(data_dir) as server:
        with server.client() as client:
            health = client.get("/api/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Stageline"
        code, out, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert f"stageline server listening on {server.url}" in out
    assert "Traceback" not in err
    assert (os.stat(data_dir).st_mode & 0o777) == 0o700
    assert (os.stat(data_dir / "secret.key").st_mode & 0o777) == 0o600


def test_a_run_waiting_at_a_gate_is_resumed_after_restarts_and_approved(
    tmp_path: Path, record: str | None
) -> None:
    data_dir = tmp_path / "data"
    gated_source(tmp_path / "web")
    _register(data_dir, tmp_path / "web", record)
    run_id, _ = _dead_server_with_a_run(data_dir, "waiting", record)

    def state() -> tuple[str, str | None, str | None]:
        return _run(data_dir, run_id, record)

    with served(data_dir, *_url_args(record)) as first:  # resumes it, still waiting
        wait_until(lambda: _alive(data_dir, run_id, record), "the first server to take the run")
        # the resume passes through in_progress, then its gate waits again (not concluded)
        wait_until(lambda: state()[0] == "waiting", "the resumed run to wait at its gate")
        code, _, err = first.stop(signal.SIGTERM)
        assert code == 0, err
    assert state() == ("waiting", None, None)  # shutdown left it waiting

    with served(data_dir, *_url_args(record)):  # a second restart, then the approval
        wait_until(lambda: _alive(data_dir, run_id, record), "the second server to take the run")
        with open_server(data_dir, record) as server:
            [gate] = server.store.deployments.gates_of_run(run_id, status="pending")
            server.store.deployments.record_decision(run_id, gate.id, "bob", "approve")
        wait_until(lambda: state()[0] == "completed", "the approved run to end")
    assert state()[:2] == ("completed", "success")
    with open_server(data_dir, record) as server:
        detail = server.store.runs.get_run(run_id)
        assert [j.conclusion for j in detail.jobs] == ["success", "success"]
        assert detail.run.number == 1 and detail.run.attempt == 3


def _alive(data_dir: Path, run_id: int, url: str | None = None) -> bool:
    with open_server(data_dir, url) as server:
        return server.store.runs.run_alive(run_id)


def test_a_run_killed_mid_job_is_completed_with_the_reason_on_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    slow = PLAIN_WORKFLOW.replace("echo built", "sleep 60")
    make_source(tmp_path / "web", {".github/workflows/ci.yml": slow})
    _register(data_dir, tmp_path / "web")
    run_id, pid = _dead_server_with_a_run(data_dir, until="in_progress")
    with served(data_dir):
        status, conclusion, reason = _run(data_dir, run_id)
    assert (status, conclusion) == ("completed", "failure")
    assert (
        reason is not None and f"pid {pid}" in reason and "ended before the run finished" in reason
    )


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = stageline("serve", "--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    assert "address already in use" in done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stdout
