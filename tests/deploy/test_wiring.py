"""`wire`: hooks and observers from a repository's `.stageline.yml`; the observer's
bookkeeping (auto-approvals, failed deploy jobs) and its order towards notifications."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.deploy.wiring import DeployObserver, wire
from stageline.engine import events as ev
from stageline.errors import WorkflowError
from stageline.executors.fake import FakeExecutor
from stageline.notify.delivery import RetryPolicy
from stageline.store import Store
from stageline.store.records import NewJob, NewRun
from tests.deploy.harness import ROUTE, Sent


def test_an_invalid_config_stops_before_any_run(tmp_path: Path, store: Store) -> None:
    (tmp_path / ".stageline.yml").write_text("environments:\n  staging:\n    aproval: {}\n")
    with pytest.raises(WorkflowError) as caught:
        wire(store, tmp_path, FakeExecutor())
    assert str(caught.value).startswith(
        f"{tmp_path / '.stageline.yml'}:3:5: error: unknown key 'aproval'"
    )


#: An environment whose gate counts `hmarr/auto-approve-action`'s approval.
ALLOWED = """environments:
  staging:
    approval:
      rules: [{reviewers: [bob]}]
      allow_action: true
"""


def approving_run(store: Store) -> int:
    """A run whose job `approval` (an auto-approve step) comes before a deploy to staging."""
    plan = {
        "jobs": [
            {"job_id": "approval", "key": "approval", "needs": []},
            {
                "job_id": "deploy",
                "key": "deploy",
                "needs": ["approval"],
                "environment": {"name": "staging"},
            },
        ]
    }
    run = NewRun("/repo", "o/r", "wf", "ci.yml", "push", "refs/heads/main", "abc", "alice", plan)
    jobs = [
        NewJob("approval", "approval", "approval", []),
        NewJob("deploy", "deploy", "deploy", []),
    ]
    run_id, _ = store.runs.create_run(run, jobs, "logs")
    return run_id


def test_the_observer_records_auto_approvals_and_forwards_in_order(
    tmp_path: Path, store: Store
) -> None:
    (tmp_path / ".stageline.yml").write_text(ALLOWED + ROUTE)
    sent = Sent()
    hooks = wire(store, tmp_path, FakeExecutor(), deliver=sent, retry=RetryPolicy(attempts=1))
    run_id = approving_run(store)
    hooks.observer.handle(
        ev.Custom(
            run_id=str(run_id),
            job_key="approval",
            name="approval.auto",
            data={"review_message": "bot says yes", "job": "approval"},
        )
    )
    hooks.observer.handle(
        ev.JobFinished(
            run_id=str(run_id), job_key="approval", name="approval", conclusion="failure"
        )
    )
    hooks.close()
    [decision] = store.deployments.auto_approvals(run_id)
    assert (decision.reviewer, decision.source_job, decision.comment) == (
        "auto",
        "approval",
        "bot says yes",
    )
    assert sent.events() == ["approval.granted", "job.failed"]


@pytest.mark.parametrize(
    "config",
    [
        "environments:\n  staging: {}\n",
        ALLOWED.replace("allow_action: true", "allow_action: false"),
        ALLOWED + "      prevent_self_review: true\n",  # the action speaks for the author
        ALLOWED + "      where: server\n",  # it is no decision through the server
        ALLOWED,
    ],
)
def test_an_auto_approval_is_announced_only_where_it_counts(
    tmp_path: Path, store: Store, config: str
) -> None:
    (tmp_path / ".stageline.yml").write_text(config + ROUTE)
    sent = Sent()
    hooks = wire(store, tmp_path, FakeExecutor(), deliver=sent, retry=RetryPolicy(attempts=1))
    run_id = approving_run(store)
    auto = {"run_id": str(run_id), "name": "approval.auto", "data": {}}
    hooks.observer.handle(ev.Custom(job_key="approval", **auto))  # type: ignore[arg-type]
    hooks.observer.handle(ev.Custom(job_key="deploy", **auto))  # type: ignore[arg-type]
    hooks.close()
    assert len(store.deployments.auto_approvals(run_id)) == 2  # recorded all the same
    announced = ["approval.granted"] if config == ALLOWED else []  # only upstream of a gate
    assert sent.events() == announced


def test_a_broken_event_never_breaks_the_run(tmp_path: Path, store: Store) -> None:
    hooks = wire(store, tmp_path, FakeExecutor(), deliver=Sent())
    forwarded: list[str] = []

    class Keep:
        def handle(self, event: ev.EngineEvent) -> None:
            forwarded.append(event.kind)

    observer = DeployObserver(hooks.runtime, Keep())
    observer.handle(ev.Custom(run_id="not a number", job_key=None, name="approval.auto"))
    hooks.close()
    assert forwarded == ["custom"]
