"""What the delivery hooks share while runs go on: the store, the rules, how to tell people.

One `DeployRuntime` per process (a `stageline run`, `resume` or `rollback`). The
gatekeeper, the bake window and rollbacks all write through the store (the truth
another process reads) and announce through `emit`, which appends to the run's event
log and hands a `Custom` engine event to the observers (notifications), in the order
things happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stageline.deploy.config import StagelineConfig
from stageline.engine import events as ev
from stageline.engine.recording import masked
from stageline.errors import StagelineError
from stageline.executors.base import Executor
from stageline.runner.masking import Masker
from stageline.store.db import Store

log = logging.getLogger(__name__)

#: How often a waiting gate, pause or queue reads the store for other processes' news.
POLL_S = 0.25

#: Asks a person at the terminal: (question) → their answer, or None (no answer).
Prompt = Callable[[str], Awaitable[str | None]]


@dataclass(slots=True)
class DeployRuntime:
    store: Store
    config: StagelineConfig
    #: The repository (git top level), as runs record it (`runs.repo_path`).
    repo_dir: str
    executor: Executor | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    #: Names given with --secret or a secret file: a stored secret never replaces them.
    given_secrets: frozenset[str] = frozenset()
    extra_env: dict[str, str] = field(default_factory=dict)
    action_dirs: list[str] = field(default_factory=list)
    observer: ev.Observer | None = None
    poll: float = POLL_S
    #: An interactive terminal's prompt for approvals (None: decisions come only from
    #: `stageline approve/reject` in another terminal).
    prompt: Prompt | None = None
    #: Deployments this process started and has not finished: (run id, job key) → id.
    open: dict[tuple[int, str], int] = field(default_factory=dict)

    def emit(self, kind: str, run_id: int | None, job_key: str | None = None, **data: Any) -> None:
        """Record `kind` in the run's event log and tell the observers (notifications)."""
        data = {k: v for k, v in data.items() if v is not None}
        if self.secrets:  # a gate's reason or an environment URL may carry one
            data = masked(data, Masker(v for v in self.secrets.values() if v))
        if run_id is not None:
            try:
                self.store.deployments.record_event(run_id, kind, data, job_key)
            except StagelineError:
                log.exception("cannot record %s", kind)
        if self.observer is not None:
            self.observer.handle(
                ev.Custom(run_id=str(run_id or ""), job_key=job_key, name=kind, data=data)
            )

    def commit_time(self, sha: str) -> datetime | None:
        """The committer date of `sha` (lead time for changes counts from it)."""
        done = subprocess.run(
            ["git", "show", "-s", "--format=%cI", sha],
            cwd=self.repo_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            return None
        return datetime.fromisoformat(done.stdout.strip()).astimezone(UTC)

    @property
    def home(self) -> Path:
        return Path(self.store.home)


async def sleep_or_cancel(seconds: float, cancel: asyncio.Event | None) -> bool:
    """Sleep `seconds`; True if `cancel` was set meanwhile (returns at once then)."""
    if cancel is None:
        await asyncio.sleep(max(0.0, seconds))
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cancel.wait(), max(0.0, seconds))
    return cancel.is_set()


def now() -> datetime:
    return datetime.now(UTC)


__all__ = ["POLL_S", "DeployRuntime", "Prompt", "now", "sleep_or_cancel"]
