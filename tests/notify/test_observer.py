"""Engine events → notifications, and the observer feeding a real webhook."""

from __future__ import annotations

from dataclasses import dataclass, field

from stageline.engine.events import Custom, JobFinished, RunFinished, RunStarted, StepStarted
from stageline.notify import EVENTS, Notifier, NotifyObserver, RetryPolicy, notification_for
from tests.notify.receivers import webhook


@dataclass
class Route:
    url: str
    events: list[str] = field(default_factory=lambda: ["*"])


STARTED = RunStarted(
    run_id="r1",
    number=7,
    workflow="ci",
    workflow_path=".github/workflows/ci.yml",
    event="push",
    ref="refs/heads/main",
    sha="1a2b3c",
    actor="alice",
    repository="demo",
)


def test_run_events_map_one_to_one() -> None:
    started = notification_for(STARTED)
    assert started is not None
    assert (started.event, started.title, started.level) == (
        "run.started",
        "[stageline] run.started: ci",
        "info",
    )
    assert "ref: refs/heads/main" in started.body and "actor: alice" in started.body
    finished = notification_for(
        RunFinished(run_id="r1", number=7, workflow="ci", conclusion="failure", reason="x")
    )
    assert finished is not None and finished.level == "failure"


def test_only_failed_jobs_are_notified() -> None:
    ok = JobFinished(run_id="r1", job_key="test", name="test", conclusion="success")
    assert notification_for(ok) is None
    failed = JobFinished(
        run_id="r1", job_key="test", name="test", conclusion="failure", tail=("E  assert 1 == 2",)
    )
    found = notification_for(failed)
    assert found is not None
    assert (found.event, found.title, found.level) == (
        "job.failed",
        "[stageline] job.failed: test",
        "failure",
    )
    assert found.body.endswith("\n\nE  assert 1 == 2")


def test_custom_deploy_events_by_name() -> None:
    for name in EVENTS:
        if name.split(".")[0] in {"approval", "deployment", "monitor", "rollback"}:
            event = Custom(run_id="r1", job_key="deploy", name=name, data={})
            found = notification_for(event)
            assert found is not None and found.event == name
    check = Custom(
        run_id="r1",
        job_key="deploy",
        name="monitor.check_failed",
        data={"environment": "staging", "check": "health", "detail": "status 503"},
    )
    found = notification_for(check)
    assert found is not None and found.level == "failure"
    assert found.title == "[stageline] monitor.check_failed: staging"
    assert "check: health" in found.body and "detail: status 503" in found.body
    assert notification_for(Custom(run_id="r1", job_key=None, name="artifact.uploaded")) is None
    assert notification_for(StepStarted(run_id="r1", job_key="a", index=0, name="x")) is None


def test_observer_delivers_engine_events_to_a_webhook() -> None:
    with webhook() as hook:
        notifier = Notifier([Route(f"json://{hook.url}/hook")], retry=RetryPolicy(backoff=0.01))
        observer = NotifyObserver(notifier)
        observer.handle(STARTED)
        observer.handle(StepStarted(run_id="r1", job_key="a", index=0, name="x"))
        observer.handle(
            Custom(
                run_id="r1",
                job_key="deploy",
                name="deployment.succeeded",
                data={"environment": "production"},
            )
        )
        assert notifier.close(timeout=20)
        titles = [body["title"] for body in hook.bodies("/hook")]
    assert titles == ["[stageline] run.started: ci", "[stageline] deployment.succeeded: production"]
