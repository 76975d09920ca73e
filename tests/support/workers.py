"""Workers in tests (ADR 0012): a private `redis-server` on a free port, `stageline serve
--executor celery` on a free port with its own data dir and a registered repository, and
`stageline worker` subprocesses with their queues and names.

Every process logs to a file under the test's temp dir; a wait that times out says what
each of them logged. Everything started here is killed when its block ends. Redis is the
test's own, so restarting it cannot disturb other tests sharing 127.0.0.1:6379; it keeps an
append-only file (its queues survive a restart, as on a durable broker) unless told not
to.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.git import git
from tests.support.http import free_port
from tests.support.server import environ

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
REPO = "app"
SECRET = "workers-webhook-secret"
WORKER_USER = "ci-worker"


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _ok(args: Sequence[str], stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"stageline {' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout


def _stop(process: subprocess.Popen[bytes], group: bool, timeout: float = 20) -> None:
    """SIGTERM (the process group when `group`), then SIGKILL after `timeout`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait()


@dataclass
class Redis:
    """A `redis-server` of the test's own; `restart` keeps its port and its data."""

    port: int
    root: Path
    #: Whether it keeps an append-only file (its queues survive a restart).
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "yes" if self.persistent else "no",
                 "--appendfsync", "always", "--dir", str(self.root), "--daemonize", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.ping():
            assert self.process.poll() is None, _tail(self.log)
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: Redis syncs its append-only file and exits."""
        if self.process is not None:
            _stop(self.process, group=False)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def redis_server(root: Path, persistent: bool = True) -> Iterator[Redis]:
    redis = Redis(free_port(), root, persistent)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def delete_queues(broker: str, names: Sequence[str]) -> None:
    """Remove the queues a test declared on a shared broker (RabbitMQ), so none is left."""
    from kombu import Connection

    with Connection(broker, connect_timeout=5) as conn:
        channel = conn.default_channel
        for name in names:
            with contextlib.suppress(Exception):
                channel.queue_delete(name)


@dataclass
class Worker:
    name: str
    queues: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log: Path
    #: Whether the test killed it (a worker that exits by itself fails the test).
    killed: bool = False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the worker's whole process group (SIGKILL: the machine died)."""
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(30)


@dataclass
class Source:
    """The repository the server runs: a git repository on disk, registered by path."""

    path: Path

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            if name.endswith(".sh"):
                target.chmod(0o755)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")


def make_source(root: Path, files: dict[str, str]) -> Source:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "alice")
    git(root, "config", "user.email", "alice@example.com")
    source = Source(root)
    source.commit(files, "first")
    return source


@dataclass
class Cluster:
    """A server (with its executor), the repository it runs, and its workers."""

    root: Path
    source: Source
    executor: str
    broker: str | None
    url: str
    token: str
    worker_token: str
    server_log: Path
    #: `stageline serve ...` (`launch_server` starts it, `restart_server` again).
    serve_command: list[str]
    server: subprocess.Popen[bytes] = field(init=False)
    workers: dict[str, Worker] = field(default_factory=dict)
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=30)

    # the server -----------------------------------------------------------------------
    def launch_server(self) -> None:
        """Start `serve_command` and wait until it answers its health check."""
        with open(self.server_log, "ab") as out:
            self.server = subprocess.Popen(
                self.serve_command, stdout=out, stderr=subprocess.STDOUT, env=environ(),
                cwd=self.root, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            assert self.server.poll() is None, f"serve exited:\n{_tail(self.server_log)}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"serve not ready:\n{_tail(self.server_log)}"
            time.sleep(0.1)

    def stop_server(self) -> None:
        """SIGTERM the server and wait for it to exit (`launch_server` starts it again)."""
        _stop(self.server, group=True, timeout=40)

    def restart_server(self) -> None:
        """SIGTERM the server, wait for it to exit, start it again (same port, data dir)."""
        self.stop_server()
        self.launch_server()

    # workers ------------------------------------------------------------------------
    def start_worker(
        self, name: str, queues: Sequence[str] = ("default",), concurrency: int = 1
    ) -> Worker:
        """`stageline worker` serving `queues`, live on the server when returned."""
        assert self.broker is not None, "a local server has no workers"
        log = self.root / f"worker-{name}.log"
        cache = self.root / f"worker-{name}-cache"
        env = environ(STAGELINE_TOKEN=self.worker_token, HOME=str(self.root / f"home-{name}"))
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "stageline", "worker", "--server", self.url,
                 "--broker", self.broker, "--queues", ",".join(queues),
                 "--concurrency", str(concurrency), "--name", name,
                 "--cache-dir", str(cache)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                start_new_session=True,
            )  # fmt: skip
        worker = Worker(name, tuple(queues), process, log)
        self.workers[name] = worker

        def live() -> bool:
            assert process.poll() is None, f"worker {name} exited:\n{_tail(log)}"
            return name in self.live_workers()

        self.wait(live, f"worker {name} to be live", timeout=90)
        return worker

    def live_workers(self) -> dict[str, dict[str, Any]]:
        answer = self.http.get("/api/v1/workers")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        listed = body["workers"] if isinstance(body, dict) else body
        return {w["name"]: w for w in listed}

    # runs ---------------------------------------------------------------------------
    def push(self, files: dict[str, str] | None = None) -> int:
        """Commit `files` (if any) and tell the server, as the post-receive hook does;
        the one run it started."""
        sha = self.source.commit(files or {}, "push")
        body = json.dumps(
            {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "pusher": "alice"}
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = self.http.post(
            "/hooks/git",
            params={"repo": REPO},
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Stageline-Signature-256": f"sha256={signature}",
                "X-Stageline-Delivery": str(uuid.uuid4()),
            },
        )
        assert answer.status_code == 202, answer.text
        run_ids = answer.json()["run_ids"]
        assert len(run_ids) == 1, answer.text
        return int(run_ids[0])

    def run(self, run_id: int) -> dict[str, Any]:
        answer = self.http.get(f"/api/v1/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def job(self, run_id: int, job_id: str) -> dict[str, Any]:
        jobs = [j for j in self.run(run_id)["jobs"] if j["job_id"] == job_id]
        assert len(jobs) == 1, f"{len(jobs)} jobs named {job_id}"
        return jobs[0]

    def status(self, run_id: int) -> str:
        """The run's status, from the list of runs (no jobs: a poll of a big run costs
        the server little) or, once it is not among the newest, from its document."""
        answer = self.http.get("/api/v1/runs", params={"limit": 20})
        assert answer.status_code == 200, answer.text
        for summary in answer.json()["runs"]:
            if summary["id"] == run_id:
                return str(summary["status"])
        return str(self.run(run_id)["status"])

    def finished(self, run_id: int, timeout: float = 240) -> dict[str, Any]:
        """The run's document once it completed."""
        self.wait(lambda: self.status(run_id) == "completed", f"run {run_id} to complete", timeout)
        return self.run(run_id)

    def cancel(self, run_id: int) -> None:
        answer = self.http.post(f"/api/v1/runs/{run_id}/cancel")
        assert answer.status_code == 200, answer.text

    def wait(self, check: Callable[[], object], what: str, timeout: float = 120) -> None:
        """Poll `check` until it is truthy; on a timeout, fail with every process's log."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.diagnostics()}")
            if self.server.poll() is not None:
                raise AssertionError(f"the server exited\n{self.diagnostics()}")
            for worker in self.workers.values():
                if not worker.killed and worker.process.poll() is not None:
                    raise AssertionError(f"worker {worker.name} exited\n{self.diagnostics()}")
            time.sleep(0.2)

    def diagnostics(self) -> str:
        parts = [f"--- server ({self.executor}) ---\n{_tail(self.server_log)}"]
        parts += [f"--- worker {w.name} ---\n{_tail(w.log)}" for w in self.workers.values()]
        return "\n".join(parts)

    def stop(self) -> None:
        for worker in self.workers.values():
            _stop(worker.process, group=True)
        if hasattr(self, "server"):
            _stop(self.server, group=True, timeout=40)
        self.http.close()


@contextlib.contextmanager
def cluster(
    root: Path,
    files: dict[str, str],
    *,
    executor: str = "celery",
    broker: str | None = None,
    serve_args: Sequence[str] = (),
    database_url: str | None = None,
) -> Iterator[Cluster]:
    """A data dir with an admin, a worker user and their tokens, `files` committed in a
    repository registered as `app`, and `stageline serve --executor EXECUTOR` on it (its
    record in `database_url` when given, else in the data dir's SQLite)."""
    root.mkdir(parents=True, exist_ok=True)
    source = make_source(root / "source", files)
    data = root / "data"
    common = ("--data-dir", str(data), *(["--database-url", database_url] if database_url else []))
    (root / "webhook.secret").write_text(SECRET + "\n")
    _ok(["repo", "add", REPO, "--url", str(source.path),
         "--webhook-secret-file", str(root / "webhook.secret"), *common])  # fmt: skip
    _ok(["user", "add", "admin", "--role", "admin", *common])
    _ok(["user", "add", WORKER_USER, "--role", "worker", *common])
    token = _ok(["token", "create", "--user", "admin", *common]).strip().splitlines()[-1]
    worker_token = _ok(
        ["token", "create", "--user", WORKER_USER, "--name", "workers", *common]
    ).strip().splitlines()[-1]  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / f"serve-{executor}.log"
    extra = ["--executor", executor, *(["--broker", broker] if broker else []), *serve_args]
    command = [sys.executable, "-m", "stageline", "serve", "--port", str(port), *common, *extra]
    made = Cluster(root, source, executor, broker, url, token, worker_token, log, command)
    try:
        made.launch_server()
        yield made
    finally:
        made.stop()


def shape(document: dict[str, Any], root: Path) -> dict[str, Any]:
    """What must not depend on the executor: the run's conclusion, and per job its
    conclusion, needs, outputs and steps (name, conclusion, outputs), with the commit's
    sha, the server's dir (`root`) and a job's workspace written as SHA, ROOT and
    WORKSPACE (where a job's workspace is, is the executor's business)."""
    found = {
        "conclusion": document["conclusion"],
        "jobs": {
            job["job_id"]: {
                "status": job["status"],
                "conclusion": job["conclusion"],
                "needs": sorted(job["needs"]),
                "outputs": job["outputs"],
                "steps": [
                    [step["name"], step["conclusion"], step["outputs"]] for step in job["steps"]
                ],
            }
            for job in document["jobs"]
        },
        "artifacts": sorted(a["name"] for a in document["artifacts"]),
    }
    text = json.dumps(found).replace(document["sha"], "SHA").replace(str(root), "ROOT")
    text = re.sub(r'"[^"]*/workspace(/[^"]*)?"', r'"WORKSPACE\1"', text)
    shaped: dict[str, Any] = json.loads(text)
    return shaped
