"""Rolling back and reading deployments, environments and metrics through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.app import deploys
from stageline.errors import RunError, StoreError
from stageline.store import open_store
from tests.app.conftest import make_repo

CONFIG = """teams: {sre: [dave]}
environments:
  staging:
    url: http://127.0.0.1:8081
    branches: [main]
    monitor:
      duration: 1s
      checks: [{name: health, http: {url: http://127.0.0.1:8081/health}}]
    rollback: {mode: manual, run: ./rollback.sh}
  production:
    approval:
      rules: [{reviewers: [alice, '@sre'], required: 1}]
"""
ROLLBACK = '#!/bin/sh\necho "restored $STAGELINE_RESTORES_SHA with $FROM_ENV" > rolled.txt\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", {".stageline.yml": CONFIG, "rollback.sh": ROLLBACK})
    (root / "rollback.sh").chmod(0o755)
    (root / ".env").write_text("FROM_ENV=the .env file\n")
    with open_store(root / ".stageline") as store:
        for status, sha in (("inactive", "1" * 40), ("success", "2" * 40)):
            store.deployments.create_deployment(
                repo_path=str(root),
                environment="staging",
                sha=sha,
                ref="refs/heads/main",
                triggered_by="alice",
                approved_by=["bob"],
                status=status,
                finished_at=(datetime.now(UTC) - timedelta(hours=1)).timestamp(),
            )
    return root


def test_deployments_newest_first(repo: Path) -> None:
    assert [(d.id, d.status) for d in deploys.deployments(repo)] == [
        (2, "success"),
        (1, "inactive"),
    ]
    assert deploys.deployments(repo, "production") == []


def test_environments_from_the_config_and_the_record(repo: Path) -> None:
    staging, production = deploys.environments(repo)
    assert staging == deploys.Environment(
        name="staging",
        url="http://127.0.0.1:8081",
        branches=["main"],
        approval=[],
        monitor=["health"],
        rollback="manual",
        current=2,
        current_sha="2" * 40,
        deploying=None,
        deployments=2,
    )
    assert (production.name, production.approval, production.current) == (
        "production",
        ["1 of alice, @sre"],
        None,
    )


def test_rollback_here_runs_the_script_with_what_a_run_would_get(repo: Path) -> None:
    said: list[str] = []
    done = deploys.rollback(repo, "staging", as_="carol", say=said.append)
    assert done.by_run is None
    assert done.reason.startswith("staging rolled back to deployment #1 (1111111)")
    assert said == []
    assert (repo / "rolled.txt").read_text() == f"restored {'1' * 40} with the .env file\n"
    newest, replaced, restored = deploys.deployments(repo)
    assert restored.status == "inactive"
    assert (newest.kind, newest.status, newest.triggered_by) == ("rollback", "success", "carol")
    assert (newest.replaces, newest.restores) == (2, 1)
    assert replaced.status == "rolled_back"
    assert deploys.rollback_ids(repo) == [1]


def test_rollback_refuses_what_it_cannot_do(repo: Path) -> None:
    with pytest.raises(RunError, match="nothing is deployed to production"):
        deploys.rollback(repo, "production")
    with pytest.raises(RunError, match="no deployment #9 of environment 'staging'"):
        deploys.rollback(repo, "staging", to=9)


def test_metrics_read_the_deployment_records(repo: Path) -> None:
    [staging] = deploys.metrics(repo, since=timedelta(days=1))
    assert (staging.environment, staging.deployments, staging.failed_deployments) == (
        "staging",
        2,
        0,
    )
    records = deploys.deployment_records(repo, "staging")
    assert [(r.id, r.status) for r in records] == [("1", "inactive"), ("2", "success")]


def test_metrics_without_a_record(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no deployment records yet"):
        deploys.metrics(tmp_path)
