"""Runs of hand-built plans through the real scheduler with the delivery hooks wired in:
a real store (SQLite in tmp_path), a real git repository, the fake executor (or the
local one), notifications captured by a delivery function."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.deploy.config import parse_config
from stageline.deploy.wiring import DeployHooks, wire
from stageline.engine.scheduler import RunOutcome, RunSpec, Scheduler, Slots
from stageline.executors.base import Executor
from stageline.notify.delivery import Notification, RetryPolicy
from stageline.plan.model import Plan, PlannedEnvironment, PlannedJob
from stageline.store import Store
from tests.engine.conftest import Recorder, job, plan


def git_repo(root: Path) -> tuple[Path, str]:
    """A repository with one commit; returns (path, sha)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README").write_text("hello\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=alice", "-c", "user.email=alice@example.com", "commit", "-qm", "one"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    return root, sha


def deploy_job(
    job_id: str, environment: str, needs: list[str] | None = None, **kw: Any
) -> PlannedJob:
    return job(job_id, needs, environment=PlannedEnvironment(environment), **kw)


def deploy_plan(sha: str, *jobs: PlannedJob, ref: str = "refs/heads/main") -> Plan:
    the_plan = plan(*jobs)
    the_plan.event.sha = sha
    the_plan.event.ref = ref
    return the_plan


@dataclass
class Sent:
    """Notifications delivered (a delivery function standing in for Apprise)."""

    items: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, url: str, notification: Notification) -> bool:
        with self.lock:
            self.items.append(notification)
        return True

    def events(self) -> list[str]:
        with self.lock:
            return [n.event for n in self.items]


ROUTE = "notifications:\n  - url: json://127.0.0.1:9/hook\n"


def hooks_for(
    store: Store, repo: Path, config: str, executor: Executor, sent: Sent | None = None
) -> DeployHooks:
    return wire(
        store,
        repo,
        executor,
        config=parse_config(config),
        poll=0.02,
        deliver=sent or Sent(),
        retry=RetryPolicy(attempts=1),
    )


async def run_with(
    store: Store,
    repo: Path,
    the_plan: Plan,
    executor: Executor,
    hooks: DeployHooks,
    recorder: Recorder | None = None,
) -> RunOutcome:
    spec = RunSpec(plan=the_plan, repo_dir=str(repo))
    observer = hooks.observing(lambda _spec: recorder)(spec)
    scheduler = Scheduler(
        store,
        executor,
        spec,
        observer=observer,
        slots=Slots(8),
        gatekeeper=hooks.gatekeeper,
        after_job=hooks.after_job,
    )
    return await scheduler.run()


def run_sync(*args: Any, **kw: Any) -> RunOutcome:
    return asyncio.run(run_with(*args, **kw))


__all__ = [
    "ROUTE",
    "Recorder",
    "Sent",
    "deploy_job",
    "deploy_plan",
    "git_repo",
    "hooks_for",
    "run_sync",
    "run_with",
]
