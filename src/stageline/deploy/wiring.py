"""One call that turns a repository's `.stageline.yml` into the engine's delivery hooks.

`wire` builds, for one `stageline run` / `resume` process: the `Gatekeeper`
(`gatekeeper.EnvironmentGatekeeper`), the `AfterJob` hook (`bake.BakeWindow`) and
one `DeployObserver` to add to every run's observers. The observer

* records each ``approval.auto`` a job reports (`hmarr/auto-approve-action`) as an
  approval by ``auto`` (see `gatekeeper`), and announces it as ``approval.granted``
  where it counts (a gate downstream allows the action; elsewhere it is recorded, as
  GitHub records a review that does not count, but not announced);
* fails the open deployment of a deploy job that failed or was cancelled (the
  after-job hook only sees jobs that succeeded);
* passes every event on to notifications (`notify.NotifyObserver`, Apprise routes
  from `.stageline.yml`), after the deployment events it caused, so receivers get
  them in the order things happened.

Call `DeployHooks.close()` when the runs are over: it delivers what is queued.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.deploy import deployments
from stageline.deploy.bake import BakeWindow
from stageline.deploy.config import StagelineConfig, load_config
from stageline.deploy.gatekeeper import EnvironmentGatekeeper
from stageline.deploy.reviewers import who_am_i
from stageline.deploy.runtime import POLL_S, DeployRuntime
from stageline.engine import events as ev
from stageline.engine.scheduler import RunSpec
from stageline.errors import StagelineError
from stageline.executors.base import Executor
from stageline.notify import Notifier, NotifyObserver
from stageline.notify.delivery import Deliver, RetryPolicy
from stageline.store.db import Store

log = logging.getLogger(__name__)


class DeployObserver:
    """See module doc. Never raises (a failing observer would be detached)."""

    def __init__(
        self,
        rt: DeployRuntime,
        forward: ev.Observer | None,
        counts: Callable[[int, str], bool] = lambda run_id, job_key: True,
    ) -> None:
        self.rt = rt
        self.forward = forward
        #: Whether run R's job J's auto-approval can count (`EnvironmentGatekeeper.action_counts`).
        self.counts = counts

    def handle(self, event: ev.EngineEvent) -> None:
        try:
            if isinstance(event, ev.Custom) and event.name == "approval.auto":
                self._auto_approval(event)
            elif isinstance(event, ev.JobFinished) and event.conclusion != "success":
                key = (int(event.run_id), event.job_key)
                if key in self.rt.open:
                    reason = event.reason or f"the deploy job ended {event.conclusion}"
                    deployments.finish(self.rt, key[0], key[1], "failure", reason)
        except Exception:
            log.exception("delivery bookkeeping failed on %s", event.kind)
        if self.forward is not None:
            self.forward.handle(event)

    def _auto_approval(self, event: ev.Custom) -> None:
        run_id = int(event.run_id)
        message = event.data.get("review_message")
        self.rt.store.deployments.record_decision(
            run_id,
            None,
            "auto",
            "approve",
            comment=str(message) if message else None,
            source_job=event.job_key,
            data={k: v for k, v in event.data.items() if v is not None},
        )
        if not self.counts(run_id, event.job_key or ""):
            return
        self.rt.emit(
            "approval.granted",
            run_id,
            event.job_key,
            by="auto",
            gate="hmarr/auto-approve-action",
            name=event.job_key,
        )


@dataclass(slots=True)
class DeployHooks:
    runtime: DeployRuntime
    gatekeeper: EnvironmentGatekeeper
    after_job: BakeWindow
    observer: DeployObserver
    notifier: Notifier

    def observing(
        self, make: Callable[[RunSpec], ev.Observer | None]
    ) -> Callable[[RunSpec], ev.Observer]:
        """Wrap a run's own observer factory so every run also feeds this one."""

        def observer_for(spec: RunSpec) -> ev.Observer:
            own = make(spec)
            return ev.Broadcast([self.observer, *([own] if own is not None else [])])

        return observer_for

    def close(self, timeout: float = 30.0) -> None:
        if not self.notifier.close(timeout):
            log.warning("some notifications were still being delivered after %.0fs", timeout)


def wire(
    store: Store,
    repo_dir: str | Path,
    executor: Executor,
    specs: Sequence[RunSpec] = (),
    *,
    config: StagelineConfig | None = None,
    interactive: bool = False,
    poll: float = POLL_S,
    deliver: Deliver | None = None,
    retry: RetryPolicy | None = None,
) -> DeployHooks:
    """The delivery hooks for runs of the repository at `repo_dir` (see module doc).

    `specs` give what a rollback needs to re-run a deploy job as the run would
    (secrets, extra env, action directories); `interactive` offers approve/reject at
    the terminal while a gate waits. Raises `WorkflowError` for an invalid config.
    """
    config = config if config is not None else load_config(repo_dir)
    first = specs[0] if specs else None
    notifier = Notifier(
        config.notifications,
        **({"deliver": deliver} if deliver is not None else {}),
        retry=retry,
    )
    notify = NotifyObserver(notifier)
    rt = DeployRuntime(
        store=store,
        config=config,
        repo_dir=str(repo_dir),
        executor=executor,
        secrets=dict(first.secrets) if first else {},
        given_secrets=first.given_secrets if first else frozenset(),
        extra_env=dict(first.extra_env) if first else {},
        action_dirs=list(first.action_dirs) if first else [],
        observer=notify,
        poll=poll,
        prompt=terminal_prompt if interactive else None,
    )

    def identity() -> str:
        return who_am_i(config, str(repo_dir), None)

    try:
        starter: str | None = identity()
    except StagelineError:
        starter = None
    gatekeeper = EnvironmentGatekeeper(rt, identity if interactive else None, starter)
    return DeployHooks(
        runtime=rt,
        gatekeeper=gatekeeper,
        after_job=BakeWindow(rt),
        observer=DeployObserver(rt, notify, gatekeeper.action_counts),
        notifier=notifier,
    )


async def terminal_prompt(question: str) -> str | None:
    """Ask on the terminal without blocking the engine's loop (a daemon thread reads)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def read() -> None:
        # A whole line (a live terminal view passes complete lines through, above itself).
        print(question, file=sys.stderr, flush=True)
        try:
            line: str | None = sys.stdin.readline() or None
        except (OSError, ValueError):
            line = None
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, answer, line)

    threading.Thread(target=read, name="stageline-prompt", daemon=True).start()
    return await answer


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


__all__ = ["DeployHooks", "DeployObserver", "is_interactive", "terminal_prompt", "wire"]
