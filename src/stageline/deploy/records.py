"""A deployment as recorded: what the store keeps and metrics, `deployments` and rollback read.

One record per job (or matrix leg) that deploys to an environment, and one per
rollback (``kind="rollback"``, linked to the deployment it `replaces` and the one
it `restores`). Times are timezone-aware UTC; `commit_time` is the committer date
of `sha`. Status follows GitHub's deployment states: a later success marks older
successful records of the environment ``inactive``, so ``inactive`` also means
"was deployed successfully".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from stageline.errors import StoreError

DeploymentStatus = Literal["queued", "in_progress", "success", "failure", "rolled_back", "inactive"]
DeploymentKind = Literal["deploy", "rollback"]

#: Statuses of a record that finished and reached the environment successfully.
SUCCEEDED: frozenset[str] = frozenset({"success", "inactive"})
#: Statuses of a change that failed: the deploy itself, or the watch window after it.
FAILED: frozenset[str] = frozenset({"failure", "rolled_back"})
FINISHED: frozenset[str] = SUCCEEDED | FAILED


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: str
    environment: str
    sha: str
    commit_time: datetime
    ref: str
    run_id: str
    job: str
    triggered_by: str
    status: DeploymentStatus
    created_at: datetime
    approved_by: tuple[str, ...] = ()
    url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    kind: DeploymentKind = "deploy"
    #: For a rollback: the deployment it replaces (now rolled_back) and the one it restores.
    replaces: str | None = None
    restores: str | None = None


def load_deployments(repo_dir: Path, environment: str | None = None) -> list[DeploymentRecord]:
    """The repository's deployment records (of `environment`, or all), oldest first,
    from its store (StoreError when the repository has no store yet)."""
    import subprocess

    from stageline.deploy.deployments import to_record
    from stageline.store import has_record, open_store, store_home
    from stageline.store.deployments import list_deployments

    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=repo_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    root = Path(done.stdout.strip()) if done.returncode == 0 else Path(repo_dir).resolve()
    home = store_home(root)
    if not has_record(home):
        raise StoreError(
            "no deployment records yet",
            hint=f"deployments are recorded when a run deploys to an environment (store: {home})",
        )
    with open_store(home) as store:
        rows = list_deployments(store, str(root), environment)
    return [to_record(row) for row in rows]


__all__ = [
    "FAILED",
    "FINISHED",
    "SUCCEEDED",
    "DeploymentKind",
    "DeploymentRecord",
    "DeploymentStatus",
    "load_deployments",
]
