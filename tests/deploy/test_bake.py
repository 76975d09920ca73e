"""The bake window inside real runs, against a real HTTP service on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.deploy.harness import (
    ROUTE,
    Recorder,
    Sent,
    deploy_job,
    deploy_plan,
    git_repo,
    hooks_for,
    run_with,
)
from tests.deploy.servers import Service, serve
from tests.engine.conftest import job


@pytest.fixture
def service() -> Iterator[Service]:
    with serve(Service()) as running:
        yield running


def monitored(url: str, on_fail: str = "rollback", rollback: str = "") -> str:
    return f"""environments:
  staging:
    monitor:
      duration: 400ms
      interval: 100ms
      checks:
        - {{name: health, http: {{url: {url}/health}}, on_fail: {on_fail}}}
{rollback}{ROUTE}"""


def test_dependents_wait_for_the_window_and_the_deployment_stays_in_progress(
    tmp_path: Path, store: Store, service: Service
) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor()
    sent = Sent()
    hooks = hooks_for(store, repo, monitored(service.url), executor, sent)
    recorder = Recorder()
    seen: list[str] = []

    async def main() -> Conclusion:
        the_plan = deploy_plan(
            sha, deploy_job("staging", "staging"), job("production", ["staging"])
        )
        task = asyncio.ensure_future(run_with(store, repo, the_plan, executor, hooks, recorder))
        while not (rows := store.deployments.list_deployments()) or rows[0].status == "queued":
            await asyncio.sleep(0.01)
        while "staging" not in executor.finished:
            await asyncio.sleep(0.01)
        seen.append(store.deployments.list_deployments()[0].status)
        return (await task).conclusion

    assert asyncio.run(main()) is Conclusion.SUCCESS
    hooks.close()
    assert seen == ["in_progress"]  # the job ran, the window had not passed
    [record] = store.deployments.list_deployments()
    assert record.status == "success"
    started = next(e for e in recorder.kinds("job.started") if e.job_key == "production")  # type: ignore[attr-defined]
    assert record.finished_at is not None and started.at >= record.finished_at.timestamp()
    assert service.count("/health") >= 1  # probed in the window (more often when not loaded)
    [bake] = recorder.kinds("job.waiting")
    assert bake.waiting_for == "bake window: monitoring staging for 400ms (health)"  # type: ignore[attr-defined]
    assert sent.events() == [
        "run.started",
        "deployment.started",
        "deployment.succeeded",
        "run.finished",
    ]


def test_an_observed_failure_is_announced_but_the_deploy_stands(
    tmp_path: Path, store: Store, service: Service
) -> None:
    service.healthy = False
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor()
    sent = Sent()
    hooks = hooks_for(store, repo, monitored(service.url, "observe"), executor, sent)
    outcome = asyncio.run(
        run_with(store, repo, deploy_plan(sha, deploy_job("d", "staging")), executor, hooks)
    )
    hooks.close()
    assert outcome.conclusion is Conclusion.SUCCESS
    assert store.deployments.list_deployments()[0].status == "success"
    failed = [n for n in sent.items if n.event == "monitor.check_failed"]
    assert len(failed) == 1  # tripped once, on failure number failure_limit + 1
    assert "status 503, expected 200" in failed[0].body


def test_nothing_to_roll_back_to_fails_the_deploy_and_says_so(
    tmp_path: Path, store: Store, service: Service
) -> None:
    service.healthy = False
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, monitored(service.url), executor)
    recorder = Recorder()
    outcome = asyncio.run(
        run_with(
            store, repo, deploy_plan(sha, deploy_job("d", "staging")), executor, hooks, recorder
        )
    )
    hooks.close()
    assert outcome.conclusion is Conclusion.FAILURE
    [finished] = recorder.kinds("job.finished")
    assert finished.reason.endswith(  # type: ignore[attr-defined]
        "; nothing to roll back to: no earlier successful deployment of staging"
    )
    [record] = store.deployments.list_deployments()
    assert record.status == "failure"


def test_a_failed_deploy_job_fails_its_deployment_before_the_job_is_reported(
    tmp_path: Path, store: Store
) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor(default=Script(conclusion=Conclusion.FAILURE, reason="exit 3"))
    sent = Sent()
    hooks = hooks_for(store, repo, "environments:\n  staging:\n" + ROUTE, executor, sent)
    asyncio.run(
        run_with(store, repo, deploy_plan(sha, deploy_job("d", "staging")), executor, hooks)
    )
    hooks.close()
    [record] = store.deployments.list_deployments()
    assert (record.status, record.reason) == ("failure", "exit 3")
    assert sent.events() == [
        "run.started",
        "deployment.started",
        "deployment.failed",
        "job.failed",
        "run.finished",
    ]
