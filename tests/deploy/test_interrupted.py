"""A deploy its process left in progress: concluded when the death is detected, and
the environment's state unknown until a decision (`deploy.deployments.unknown_state`)."""

from __future__ import annotations

from stageline.deploy.deployments import interrupted_deployment, unknown_state
from stageline.store import Store
from stageline.store.deploy_records import DeploymentRow
from tests.store.test_contract import dead_pid, new_run, set_run


def rows_of(store: Store) -> list[DeploymentRow]:
    return store.deployments.list_deployments("/repo", "staging")


def deploy(store: Store, run_id: int, status: str) -> int:
    return store.deployments.create_deployment(
        repo_path="/repo", environment="staging", run_id=run_id, job_key="deploy", status=status
    )


def test_the_state_is_unknown_after_a_dead_deploy_until_a_later_one_starts(store: Store) -> None:
    good = new_run(store)
    deploy(store, good, "success")
    assert unknown_state(store, rows_of(store)) is None
    dead = new_run(store)
    set_run(store, dead, status="in_progress", started_at=1.0, pid=dead_pid())
    killed = deploy(store, dead, "in_progress")
    assert unknown_state(store, rows_of(store)) is None  # not detected yet
    store.runs.reap_orphans()
    state = unknown_state(store, rows_of(store))
    assert state is not None and state.startswith(f"unknown: deployment #{killed} (")
    decide = f"Decide: `stageline rollback staging`, or deploy again: `stageline resume {dead}`"
    assert decide in state  # a reaped run can be resumed
    assert interrupted_deployment(rows_of(store)).id == killed  # type: ignore[union-attr]
    deploy(store, new_run(store), "queued")  # queued: has not touched the environment
    assert unknown_state(store, rows_of(store)) is not None
    deploy(store, new_run(store), "success")
    assert unknown_state(store, rows_of(store)) is None


def test_an_ordinary_failure_is_not_unknown(store: Store) -> None:
    run = new_run(store)
    store.deployments.finish_deployment(deploy(store, run, "in_progress"), "failure", "exit 1")
    assert unknown_state(store, rows_of(store)) is None
