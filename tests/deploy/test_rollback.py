"""Rollbacks on real runs: the old deploy job re-run by the local executor at its commit,
seeing STAGELINE_ROLLBACK and the `stageline` context; scripts; what cannot be restored."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from stageline.deploy.config import parse_config
from stageline.deploy.rollback import pick_target, roll_back
from stageline.errors import StagelineError
from stageline.executors.local import LocalExecutor
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.deploy.harness import deploy_job, deploy_plan, git_repo, hooks_for, run_sync
from tests.engine.conftest import step


def deploy_twice(tmp_path: Path, store: Store, config: str) -> tuple[Path, list[str]]:
    """Two successful deploys (two commits) whose job writes what it knows to out.txt."""
    repo, first = git_repo(tmp_path / "repo")
    out = tmp_path / "out.txt"
    script = (
        'echo "sha=$GITHUB_SHA rollback=${STAGELINE_ROLLBACK:-false} '
        'ctx=${{ stageline.rollback }} restores=${{ stageline.restores.deployment }}" '
        f'>> {out}; echo "key=${{{{ secrets.KEY }}}}" >> {tmp_path / "key.txt"}'
    )
    (repo / "v").write_text("2")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "two"],
        cwd=repo,
        check=True,
    )
    second = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    executor = LocalExecutor()
    for sha in (first, second):
        hooks = hooks_for(store, repo, config, executor)
        plan = deploy_plan(sha, deploy_job("deploy", "staging", steps=[step(run=script)]))
        assert run_sync(store, repo, plan, executor, hooks).conclusion is Conclusion.SUCCESS
        hooks.close()
    return repo, [first, second]


def test_redeploy_re_runs_the_old_job_at_its_commit(tmp_path: Path, store: Store) -> None:
    config = "environments:\n  staging:\n"
    repo, (first, second) = deploy_twice(tmp_path, store, config)
    old, current = store.deployments.list_deployments(str(repo))
    hooks = hooks_for(store, repo, config, LocalExecutor())
    env = parse_config(config).environment("staging")
    outcome = asyncio.run(
        roll_back(hooks.runtime, env, replaces=current, trigger="test", requested_by="erin")
    )
    hooks.close()
    assert outcome.ok, outcome.reason
    assert outcome.reason == (
        f"staging rolled back to deployment #{old.id} ({first[:7]}) "
        f"in place of deployment #{current.id} ({second[:7]})"
    )
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines == [
        f"sha={first} rollback=false ctx=false restores=",
        f"sha={second} rollback=false ctx=false restores=",
        f"sha={first} rollback=true ctx=true restores={old.id}",
    ]
    rows = store.deployments.list_deployments(str(repo))
    assert [r.status for r in rows] == ["inactive", "rolled_back", "success"]
    assert (rows[2].kind, rows[2].sha, rows[2].triggered_by) == ("rollback", first, "erin")
    [record] = store.deployments.list_rollbacks()
    assert (record.replaces, record.restores, record.deployment_id) == (
        current.id,
        old.id,
        rows[2].id,
    )
    assert (record.status, record.method) == ("success", "redeploy")


def test_a_redeploy_gets_the_environments_secrets(tmp_path: Path, store: Store) -> None:
    config = "environments:\n  staging:\n"
    store.secrets.put(str(tmp_path / "repo"), "KEY", "staging-key-1", "staging")
    repo, _ = deploy_twice(tmp_path, store, config)
    _, current = store.deployments.list_deployments(str(repo))
    hooks = hooks_for(store, repo, config, LocalExecutor())
    env = parse_config(config).environment("staging")
    outcome = asyncio.run(
        roll_back(hooks.runtime, env, replaces=current, trigger="test", requested_by="erin")
    )
    hooks.close()
    assert outcome.ok, outcome.reason
    assert (tmp_path / "key.txt").read_text().splitlines() == ["key=staging-key-1"] * 3


def test_pick_target_refuses_what_cannot_be_restored(tmp_path: Path, store: Store) -> None:
    config = "environments:\n  staging:\n"
    repo, _ = deploy_twice(tmp_path, store, config)
    old, current = store.deployments.list_deployments(str(repo))
    rt = hooks_for(store, repo, config, LocalExecutor()).runtime
    assert pick_target(rt, "staging", current, None).id == old.id  # type: ignore[union-attr]
    with pytest.raises(StagelineError, match="no deployment #99 of environment 'staging'"):
        pick_target(rt, "staging", current, 99)
    with pytest.raises(StagelineError, match="no deployment #1 of environment 'production'"):
        pick_target(rt, "production", None, old.id)
    with pytest.raises(StagelineError, match="is the one being rolled back"):
        pick_target(rt, "staging", current, current.id)
    store.deployments.update_deployment(old.id, status="failure")
    with pytest.raises(StagelineError, match="cannot be restored: it is failure"):
        pick_target(rt, "staging", current, old.id)


def test_a_failing_rollback_script_is_recorded_as_a_failure(tmp_path: Path, store: Store) -> None:
    config = (
        "environments:\n  staging:\n    rollback: {mode: auto, run: 'echo broken >&2; exit 4'}\n"
    )
    repo, _ = deploy_twice(tmp_path, store, config)
    _, current = store.deployments.list_deployments(str(repo))
    hooks = hooks_for(store, repo, config, LocalExecutor())
    env = parse_config(config).environment("staging")
    outcome = asyncio.run(
        roll_back(hooks.runtime, env, replaces=current, trigger="test", requested_by="erin")
    )
    hooks.close()
    assert not outcome.ok
    assert "echo broken >&2; exit 4 exited with 4 (broken)" in outcome.reason
    [record] = store.deployments.list_rollbacks()
    assert (record.status, record.method) == ("failure", "script")
    assert store.deployments.list_deployments(str(repo))[-1].status == "failure"
    assert store.deployments.get_deployment(current.id).status == "success"  # type: ignore[union-attr]
