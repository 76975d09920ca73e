"""The agent protocol (ADR 0012) against the real server app with `--executor celery`:
a real Redis broker, the server on a free port, and the test playing the worker with
httpx (claim → events → finish), as `stageline worker` does. No worker process runs:
the test is the worker, so it can also misbehave (claim twice, send stale events,
stop heartbeating)."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from stageline.app import accounts, repos, runs
from stageline.app.accounts import Role
from stageline.app.dispatch import DispatchSettings
from stageline.app.host import RunHost
from stageline.app.serverdata import open_server
from stageline.engine.setup import RunOptions
from stageline.server.app import ServerSettings, create_app
from stageline.store import RunDetail, Store
from stageline.worker import protocol as p
from tests.server.conftest import serving
from tests.support.git import git
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.services

#: A Redis database of these tests' own, and a queue per test: nothing else consumes it.
BROKER = "redis://127.0.0.1:6379/13"
WORKFLOW = """on: push
jobs:
  build:
    runs-on: {runs_on}
    steps:
      - run: echo hello
  after:
    needs: build
    if: failure()
    runs-on: {runs_on}
    steps:
      - run: echo after
"""


@dataclass
class Agent:
    """The served app, its run host, and a worker's and a viewer's HTTP clients."""

    url: str
    host: RunHost
    store: Callable[[], Store]
    queue: str
    worker: httpx.Client
    viewer: httpx.Client
    broker: redis.Redis
    project: Path
    data_dir: Path

    def start_run(self) -> int:
        server = self.host.server
        repo = repos.get_repo(server, "demo")
        sha = repos.fetch(server, repo, "main")
        checkout = repos.checkout(server, repo, sha, "refs/heads/main")
        options = RunOptions(cwd=checkout, event="push", actor="alice")
        [run_id] = self.host.start(runs.prepare(options), repo, "root")
        return run_id

    def attempt_of(self, run_id: int, job: str = "build", number: int = 1) -> str:
        """The attempt the server sent for `job` (once it has)."""

        def sent() -> str | None:
            for row in self.store().dispatch.attempts_of_run(run_id):
                if row.job_key == job and row.number == number:
                    return row.id
            return None

        return until(sent)

    def tasks(self) -> list[dict[str, Any]]:
        """The tasks waiting in this test's queue (Celery's message envelope on Redis)."""
        found = []
        for raw in self.broker.lrange(self.queue, 0, -1):
            message = json.loads(raw)
            _args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append({"task": message["headers"]["task"], "kwargs": kwargs})
        return found

    def beat(self, name: str, attempts: list[str]) -> dict[str, Any]:
        beat = {
            "queues": [self.queue],
            "concurrency": 2,
            "hostname": "box",
            "pid": 4242,
            "version": "test",
            "attempts": attempts,
        }
        answer = self.worker.post(p.HEARTBEAT.format(name=name), json=beat)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def claim(self, attempt: str, worker: str = "w1") -> httpx.Response:
        return self.worker.post(p.CLAIM.format(attempt=attempt), json={"worker": worker})

    def events(
        self, attempt: str, seq: int, events: list[dict[str, Any]], worker: str = "w1"
    ) -> httpx.Response:
        body = {"worker": worker, "seq": seq, "events": events}
        return self.worker.post(p.EVENTS.format(attempt=attempt), json=body)

    def finish(
        self, attempt: str, conclusion: str, seq: int = 1, worker: str = "w1"
    ) -> httpx.Response:
        result = {"conclusion": conclusion, "outputs": {}, "steps": [], "annotations": []}
        body = {"worker": worker, "seq": seq, "result": result}
        return self.worker.post(p.FINISH.format(attempt=attempt), json=body)

    def ended(self, run_id: int) -> RunDetail:
        def done() -> RunDetail | None:
            detail = self.store().runs.get_run(run_id)
            return detail if detail.run.status == "completed" else None

        return until(done)


def until(found: Callable[[], Any], deadline_s: float = 60.0) -> Any:
    """Poll `found` until it returns something (the deadline only ends a hung test)."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = found()
        if value:
            return value
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _project(root: Path, workflow: str) -> Path:
    (root / ".github/workflows").mkdir(parents=True)
    (root / ".github/workflows/ci.yml").write_text(workflow)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Alice")
    git(root, "config", "user.email", "alice@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


@pytest.fixture(params=["sqlite", "postgresql"])
def make_agent(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Agent]]:
    """`make_agent(runs_on=..., workflow=..., **dispatch settings)`: the app served with the celery
    executor, a repository `demo`, a `worker` and a `viewer` user; its record on SQLite,
    then on PostgreSQL."""
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    database: contextlib.ExitStack = contextlib.ExitStack()
    pg = request.param == "postgresql"
    database_url = database.enter_context(fresh_database()) if pg else None
    broker = redis.Redis.from_url(BROKER)
    queue = f"q-{uuid.uuid4().hex[:12]}"
    exits: list[Callable[[], None]] = []

    def make(runs_on: str = "ubuntu-latest", workflow: str = WORKFLOW, **settings: Any) -> Agent:
        data_dir = tmp_path / "data"
        project = _project(tmp_path / "project", workflow.format(runs_on=runs_on))
        with open_server(data_dir, database_url) as server:
            tokens = {}
            for name, role in (("w", Role.WORKER), ("vera", Role.VIEWER)):
                user = accounts.add_user(server, name, role, [], None, by="test")
                tokens[name], _ = accounts.create_token(server, user, "t", "1d")
            repos.add_repo(server, "demo", str(project), None, by="test")
        queues = (("ubuntu-*", queue), ("gpu", queue + "-gpu"))
        dispatch = DispatchSettings(broker=BROKER, queues=queues, **settings)
        app = create_app(
            ServerSettings(
                data_dir=data_dir, database_url=database_url, executor="celery", dispatch=dispatch
            )
        )
        serve = serving(app)
        url = serve.__enter__()
        exits.append(lambda: serve.__exit__(None, None, None))
        host: RunHost = app.state.host

        def client(token: str) -> httpx.Client:
            made = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            exits.append(made.close)
            return made

        return Agent(
            url=url,
            host=host,
            store=lambda: host.server.store,
            queue=queue,
            worker=client(tokens["w"]),
            viewer=client(tokens["vera"]),
            broker=broker,
            project=project,
            data_dir=data_dir,
        )

    yield make
    for done in reversed(exits):
        done()
    for key in broker.scan_iter(f"*{queue}*"):  # the queues and kombu's bindings
        broker.delete(key)
    broker.close()
    database.close()


def _step(index: int, conclusion: str, log_path: str | None = None) -> dict[str, Any]:
    return {
        "index": index,
        "name": "Run echo hello",
        "outcome": conclusion,
        "conclusion": conclusion,
        "outputs": {},
        "exit_code": 0,
        "started_at": time.time(),
        "finished_at": time.time(),
        "log_path": log_path,
        "log_size": 999,
        "summary": "",
    }


def test_a_job_is_sent_claimed_once_streamed_and_finished(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    assert until(agent.tasks) == [
        {"task": p.TASK_NAME, "kwargs": {"attempt": attempt, "run_id": run_id, "job_key": "build"}}
    ]
    assert agent.beat("w1", []) == {"cancel": {}, "stale": []}
    claimed = agent.claim(attempt)
    assert claimed.status_code == 200, claimed.text
    reply = claimed.json()
    assert reply["repo"] == "demo"
    assert reply["request"]["job"]["key"] == "build"
    assert reply["request"]["local"] is None
    assert reply["request"]["run_id"] == str(run_id)
    again = agent.claim(attempt, "w2")
    assert again.status_code == 409  # a duplicate delivery changes nothing

    events = [
        {"kind": "step_started", "index": 0, "name": "Run echo hello"},
        {"kind": "write", "index": 0, "text": "hello\n"},
        {"kind": "log", "index": 0, "line": "hello"},
        {"kind": "step_finished", "result": _step(0, "success", "/on/the/worker/0.log")},
    ]
    first = agent.events(attempt, 1, events)
    assert first.status_code == 200, first.text
    assert first.json() == {"applied": True, "cancel": None}
    resent = agent.events(attempt, 1, events)
    assert resent.json() == {"applied": False, "cancel": None}
    assert agent.events(attempt, 2, [], worker="w2").status_code == 409
    malformed = agent.events(attempt, 2, [{"kind": "log", "index": 0}])
    assert malformed.status_code == 400 and "a malformed event" in malformed.json()["detail"]
    listed = agent.viewer.get("/api/v1/workers").json()
    assert [(w["name"], w["queues"]) for w in listed] == [("w1", [agent.queue])]
    page = agent.viewer.get("/workers")
    assert page.status_code == 200 and "w1" in page.text and agent.queue in page.text

    assert agent.finish(attempt, "success").status_code == 200
    assert agent.finish(attempt, "success").status_code == 409
    detail = agent.ended(run_id)
    assert detail.run.conclusion == "success"
    build = next(j for j in detail.jobs if j.key == "build")
    assert build.runner_name == "w1"
    [step] = build.steps
    assert step.log_path is not None and step.log_path.startswith(str(agent.data_dir / "logs"))
    assert Path(step.log_path).read_text() == "hello\n"
    assert step.log_size == len("hello\n")
    document = agent.viewer.get(f"/api/v1/runs/{run_id}").json()
    assert [j["runner_name"] for j in document["jobs"]] == ["w1", None]  # `after` skipped
    job_page = agent.viewer.get(f"/runs/{run_id}/job", params={"key": "build"})
    assert job_page.status_code == 200 and "Ran on w1" in job_page.text


def test_a_job_whose_lease_expires_ends_with_worker_lost_and_the_run_goes_on(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(lease_s=1.0)
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    assert agent.claim(attempt).status_code == 200
    started = [{"kind": "step_started", "index": 0, "name": "Run echo hello"}]
    assert agent.events(attempt, 1, started).status_code == 200
    after = agent.attempt_of(run_id, "after")  # no heartbeat: the lease runs out
    lost = agent.store().dispatch.get_attempt(attempt)
    assert lost is not None and (lost.state, lost.reason) == ("lost", "worker w1 lost")
    assert agent.events(attempt, 2, []).status_code == 409  # fenced off
    assert agent.finish(attempt, "success", 2).status_code == 409
    assert agent.beat("w1", [attempt])["stale"] == [attempt]
    assert agent.claim(after).status_code == 200
    assert agent.finish(after, "success").status_code == 200
    detail = agent.ended(run_id)
    build = next(j for j in detail.jobs if j.key == "build")
    assert (build.conclusion, build.reason) == ("failure", "worker w1 lost")
    assert [s.conclusion for s in build.steps] == ["failure"]
    assert detail.run.conclusion == "failure"


def test_a_lost_job_is_sent_once_more_with_retry_lost_jobs(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(lease_s=1.0, retry_lost_jobs=True)
    run_id = agent.start_run()
    first = agent.attempt_of(run_id)
    assert agent.claim(first).status_code == 200
    started = [{"kind": "step_started", "index": 0, "name": "Run echo hello"}]
    assert agent.events(first, 1, started).status_code == 200
    second = agent.attempt_of(run_id, number=2)
    sent = until(lambda: len(agent.tasks()) == 2 and agent.tasks())
    assert sorted(t["kwargs"]["attempt"] for t in sent) == sorted([first, second])
    assert agent.claim(second, "w2").status_code == 200
    rerun = [
        {"kind": "step_started", "index": 0, "name": "Run echo hello"},
        {"kind": "step_finished", "result": _step(0, "success")},
    ]
    assert agent.events(second, 1, rerun, worker="w2").json()["applied"] is True
    assert agent.finish(second, "success", worker="w2").status_code == 200
    detail = agent.ended(run_id)
    assert detail.run.conclusion == "success"
    build = next(j for j in detail.jobs if j.key == "build")
    assert build.runner_name == "w2"
    assert [(s.number, s.conclusion) for s in build.steps] == [(0, "success")]  # the retry's
    kinds = [e.kind for e in agent.store().runs.run_events(run_id)]
    assert "job.retried" in kinds


def test_cancel_reaches_the_worker_in_its_heartbeat_reply(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    assert agent.claim(attempt).status_code == 200
    agent.host.cancel(run_id, "root")
    reply = until(lambda: agent.beat("w1", [attempt])["cancel"])
    assert reply == {attempt: "cancelled"}
    assert agent.events(attempt, 1, []).json()["cancel"] == "cancelled"
    assert agent.finish(attempt, "cancelled").status_code == 200
    detail = agent.ended(run_id)
    assert detail.run.conclusion == "cancelled"
    assert next(j for j in detail.jobs if j.key == "build").conclusion == "cancelled"


def test_a_job_no_live_worker_serves_waits_then_fails_with_the_reason(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(runs_on="[self-hosted, gpu]", no_worker_timeout=3.0)
    agent.beat("w1", [])  # live, but it serves the other queue
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)

    def waiting() -> str | None:
        build = next(j for j in agent.store().runs.get_run(run_id).jobs if j.key == "build")
        return build.waiting_for if build.status == "waiting" else None

    assert until(waiting) == "no worker serves [self-hosted, gpu]"
    detail = agent.ended(run_id)
    build = next(j for j in detail.jobs if j.key == "build")
    assert (build.conclusion, build.reason) == ("failure", "no worker serves [self-hosted, gpu]")
    assert agent.claim(attempt).status_code == 409  # a worker that comes late gets nothing
    gpu = agent.broker.llen(agent.queue + "-gpu")
    assert gpu == 2  # both jobs went to the gpu queue, not the default one


def test_a_job_cancelled_while_queued_ends_at_once_and_its_claim_is_refused(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    agent.host.cancel(run_id, "root")
    detail = agent.ended(run_id)
    assert detail.run.conclusion == "cancelled"
    assert agent.claim(attempt).status_code == 409
    row = agent.store().dispatch.get_attempt(attempt)
    assert row is not None and row.state == "cancelled"


def test_a_server_that_runs_jobs_itself_refuses_claims(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with open_server(data_dir) as server:
        user = accounts.add_user(server, "w", Role.WORKER, [], None, by="test")
        token, _ = accounts.create_token(server, user, "t", "1d")
    with serving(create_app(ServerSettings(data_dir=data_dir))) as url:
        answer = httpx.post(
            url + p.CLAIM.format(attempt="a" * 32),
            json={"worker": "w1"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 409
    assert "executor local" in answer.json()["detail"]


def test_a_task_lost_with_the_broker_is_sent_again_to_an_idle_worker(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(resend_s=1.0)
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    until(agent.tasks)
    agent.broker.delete(agent.queue)  # the broker lost it
    agent.beat("w1", [])  # an idle worker of the queue waits in vain
    [task] = until(agent.tasks)
    assert task["kwargs"]["attempt"] == attempt
    assert agent.claim(attempt).status_code == 200
    assert agent.finish(attempt, "success").status_code == 200
    assert agent.ended(run_id).run.conclusion == "success"


def test_the_server_ends_a_job_past_its_timeout_when_its_worker_does_not(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent(lease_s=1.0)
    workflow = agent.project / ".github/workflows/ci.yml"
    workflow.write_text(
        workflow.read_text().replace("    steps:", "    timeout-minutes: 0.01\n    steps:", 1)
    )
    git(agent.project, "commit", "-qam", "a short timeout")
    run_id = agent.start_run()
    attempt = agent.attempt_of(run_id)
    assert agent.claim(attempt).status_code == 200

    def ended() -> str | None:
        agent.beat("w1", [attempt])  # the worker lives, but does not end the job
        row = agent.store().dispatch.get_attempt(attempt)
        return row.reason if row is not None and row.state == "lost" else None

    reason = "the job exceeded its timeout of 0.01 minutes"
    assert until(ended) == reason
    after = agent.attempt_of(run_id, "after")  # `if: failure()` runs
    assert agent.claim(after).status_code == 200
    assert agent.finish(after, "success").status_code == 200
    detail = agent.ended(run_id)
    build = next(j for j in detail.jobs if j.key == "build")
    assert (build.conclusion, build.reason) == ("failure", reason)


def test_a_run_sends_every_ready_job_whatever_the_servers_own_cores(
    make_agent: Callable[..., Agent],
) -> None:
    """The workers' slots bound what runs at once, not the server's `--parallel` default
    (2 x its cores + 2): ten independent jobs are all queued for the workers at once."""
    jobs = "".join(
        f"  j{i}:\n    runs-on: {{runs_on}}\n    steps:\n      - run: echo {i}\n" for i in range(10)
    )
    agent = make_agent(workflow="on: push\njobs:\n" + jobs)
    agent.beat("w1", [])  # a live worker serves the queue; it claims nothing
    agent.start_run()
    assert until(lambda: len(agent.tasks()) == 10)
