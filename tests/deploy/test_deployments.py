"""Deployment records from real runs: who, what commit, when; later successes make older
ones inactive; metrics read them back as pure records (`records.to_record`)."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stageline.deploy.dora import compute
from stageline.deploy.records import to_record
from stageline.executors.fake import FakeExecutor
from stageline.runs.states import Conclusion
from stageline.store import open_store, store_home
from tests.deploy.harness import deploy_job, deploy_plan, git_repo, hooks_for, run_with


def test_records_carry_the_commit_the_actor_and_the_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_HOME", raising=False)
    repo, sha = git_repo(tmp_path / "repo")
    committed = subprocess.run(
        ["git", "show", "-s", "--format=%cI", sha], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    config = "environments:\n  staging: {url: http://127.0.0.1:1/}\n"
    executor = FakeExecutor()
    with open_store(store_home(repo)) as store:
        for _ in range(2):
            hooks = hooks_for(store, repo, config, executor)
            plan = deploy_plan(sha, deploy_job("deploy", "staging"))
            outcome = asyncio.run(run_with(store, repo, plan, executor, hooks))
            assert outcome.conclusion is Conclusion.SUCCESS
            hooks.close()
        first, second = store.deployments.list_deployments(str(repo))
    assert (first.status, second.status) == ("inactive", "success")
    assert (second.sha, second.ref, second.run_id, second.job_key) == (
        sha,
        "refs/heads/main",
        2,
        "deploy",
    )
    assert second.triggered_by == "alice"
    assert second.url == "http://127.0.0.1:1/"
    assert second.commit_time == datetime.fromisoformat(committed).astimezone(UTC)
    assert second.created_at <= second.started_at <= second.finished_at  # type: ignore[operator]

    with open_store(store_home(repo)) as store:
        records = [to_record(r) for r in store.deployments.list_deployments(str(repo), "staging")]
    assert [(r.id, r.status) for r in records] == [("1", "inactive"), ("2", "success")]
    assert records[1].commit_time == second.commit_time
    metrics = compute(records, until=datetime.now(UTC), environment="staging")
    assert (metrics.deployments, metrics.failed_deployments) == (2, 0)
