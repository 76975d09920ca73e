"""`stageline demo --server` as a user starts it: a subprocess on a free port that prints
where to log in and the users' passwords; a login over HTTP with one of them sees the run
its push started, which runs the article's workflow verbatim; SIGTERM stops it and the
services its deploys started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.support.http import free_port

pytestmark = pytest.mark.slow

ARTICLE = Path(__file__).parent / "fixtures" / "multi-stage.yml"
#: The last line of what the demo prints once it serves.
READY = "Ctrl-C stops the server."


def read_until_ready(out: IO[str], timeout: float = 120) -> str:
    """What the demo printed up to its ready line (it blocks on no line for long)."""
    deadline = time.monotonic() + timeout
    said: list[str] = []
    while time.monotonic() < deadline:
        line = out.readline()
        if not line:
            break
        said.append(line)
        if line.strip() == READY:
            return "".join(said)
    raise AssertionError("the demo never said it was ready:\n" + "".join(said))


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["TMPDIR"] = str(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "demo", "--server", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process, read_until_ready(process.stdout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def log_in(client: httpx.Client, name: str, password: str) -> None:
    form = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    done = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": csrf[1]}
    )
    assert done.status_code == 303, done.text


def test_demo_server_serves_the_example_and_its_run(
    demo: tuple[subprocess.Popen[str], str],
) -> None:
    process, said = demo
    url = re.search(r"log in at (http://127\.0\.0\.1:\d+)/login", said)
    assert url, said
    passwords = dict(re.findall(r"^  (\w+) +(?:admin|developer|reviewer) +(\S+)", said, re.M))
    assert sorted(passwords) == ["admin", "alice", "bob", "dev"], said
    assert "started run 1" in said, said  # what the post-receive hook reported
    repo = re.search(r"push again: cd (\S+) &&", said)
    assert repo, said
    workflow = Path(repo[1]) / ".github/workflows/multi-stage.yml"
    assert workflow.read_bytes() == ARTICLE.read_bytes()

    with httpx.Client(base_url=url[1], timeout=30) as client:
        assert client.get("/api/v1/runs").status_code == 401
        log_in(client, "bob", passwords["bob"])
        assert "Multi-Stage CI/CD" in client.get("/").text
        deadline = time.monotonic() + 180
        while True:
            (run,) = client.get("/api/v1/runs").json()["runs"]
            if run["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        jobs = client.get(f"/api/v1/runs/{run['id']}").json()["jobs"]
        assert client.get("/api/v1/users").status_code == 403  # bob is no admin

    assert run["conclusion"] == "success", run
    assert {job["job_id"]: job["conclusion"] for job in jobs} == dict.fromkeys(
        ["build", "test", "deploy-staging", "approval", "deploy-production"], "success"
    )
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert "stopped the staging and production services" in rest
    assert "Traceback" not in said + rest
