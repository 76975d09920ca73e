"""Resuming a run whose process stopped while a gate (or a bake window) held it.

A run that waits at a gate outlives its process (`store.queries.orphan_reason`
leaves waiting runs alone). `resume_run` continues it in this process, under the
same run id and number, from its recorded plan:

* jobs that completed keep their conclusion and outputs (they count for `needs`
  as before and do not run again);
* every other job runs again from its start: its half-written steps are forgotten;
  a job that was waiting at its gate re-enters the gate, which finds its request
  time and every decision recorded so far in the store; a deploy job that was in its
  bake window deploys again; one that was rolling back completes the rollback
  (`deploy.gatekeeper`);
* a deferred matrix is expanded again and all its legs run.

This is a `Scheduler` whose `_create` loads the run instead of creating one; the
rest of the scheduler is unchanged. (Kept out of scheduler.py on purpose: it is the
only place that knows about resuming.)
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from stageline.engine import events as ev
from stageline.engine.context import github_context
from stageline.engine.execute import SIGNALS, Execution
from stageline.engine.hooks import AfterJob, Gatekeeper
from stageline.engine.scheduler import RunSpec, Scheduler, Slots
from stageline.errors import RunError
from stageline.executors.base import Executor
from stageline.runs.rules import aggregate_result, effective_result
from stageline.runs.states import ACTIVE_STATUSES, Conclusion, Status
from stageline.store import deployments as store_deploys
from stageline.store import runs as store_runs
from stageline.store.db import Store
from stageline.store.queries import get_run

S = Status


class ResumedScheduler(Scheduler):
    """A scheduler that continues run `run_id` (see module doc)."""

    def __init__(self, store: Store, executor: Executor, spec: RunSpec, run_id: int, **kw: Any):
        super().__init__(store, executor, spec, **kw)
        self._resume_id = run_id

    def _create(self) -> None:
        plan = self.plan
        detail = get_run(self.store, self._resume_id)
        planned = {job.key for job in plan.jobs}
        done = {
            j.key: j
            for j in detail.jobs
            if j.status == S.COMPLETED and j.conclusion != Conclusion.CANCELLED and j.key in planned
        }
        store_deploys.reset_unfinished(self.store, self._resume_id, set(done), planned)
        store_deploys.mark_run_resumed(self.store, self._resume_id)
        self._github = github_context(plan, run_id=0, run_number=0)
        self._run_group = self._group(plan.concurrency_group, {})
        self.run_id, self.number = detail.run.id, detail.run.number
        loop = asyncio.get_running_loop()
        self.recorder = store_runs.RunRecorder(self.store, self.run_id, loop.call_soon)
        self._run_status = S.QUEUED
        self._github = github_context(plan, run_id=self.run_id, run_number=self.number)
        for job in plan.jobs:
            self._add(job)
        for job in plan.jobs:
            needed = set(job.needs)
            self._needs_left[job.key] = len(needed)
            for job_id in needed:
                self._dependents.setdefault(job_id, []).append(job.key)
        for key, record in done.items():
            self._seed(key, Conclusion(record.conclusion or "failure"), dict(record.outputs or {}))

    def _seed(self, key: str, conclusion: Conclusion, outputs: dict[str, str]) -> None:
        """Take a completed job's recorded result as if it had just finished, without
        recording anything or starting its dependents (the run's start does that)."""
        job = self._jobs[key]
        planned = job.planned
        job.status = S.COMPLETED
        job.conclusion = conclusion
        keep_going = planned.continue_on_error is True
        job.result = effective_result(conclusion, keep_going)
        merged = self._outputs.setdefault(planned.job_id, {})
        merged.update({k: v for k, v in outputs.items() if v not in ("", None)})
        self._unfinished -= 1
        self._legs_left[planned.job_id] -= 1
        if self._legs_left[planned.job_id] == 0:
            legs = [self._jobs[k].result or Conclusion.SKIPPED for k in self._legs[planned.job_id]]
            self._results[planned.job_id] = aggregate_result(legs)
            for dependent in self._dependents.get(planned.job_id, []):
                self._needs_left[dependent] -= 1


def resumable(store: Store, run_id: int) -> None:
    """Raise RunError unless run `run_id` can be resumed (active, its process gone)."""
    detail = get_run(store, run_id)
    run = detail.run
    if run.status not in ACTIVE_STATUSES:
        raise RunError(
            f"run {run_id} has ended ({run.conclusion}); nothing to resume",
            hint=f"start a new one: stageline run {run.workflow_path}",
        )
    if store_deploys.run_alive(store, run_id):
        raise RunError(
            f"run {run_id} is still running (pid {run.pid} on {run.host})",
            hint="decide its gate with `stageline approve/reject`, or stop that process first",
        )


async def resume_run(
    store: Store,
    executor: Executor,
    spec: RunSpec,
    run_id: int,
    *,
    parallel: int,
    observer: ev.Observer | None = None,
    gatekeeper: Gatekeeper | None = None,
    after_job: AfterJob | None = None,
) -> Execution:
    """Continue run `run_id` to its end here, with Ctrl-C/SIGTERM handled as `execute`."""
    loop = asyncio.get_running_loop()
    scheduler = ResumedScheduler(
        store,
        executor,
        spec,
        run_id,
        observer=observer,
        slots=Slots(parallel),
        gatekeeper=gatekeeper,
        after_job=after_job,
    )
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            received.append(signum)
        scheduler.cancel(f"received {signal.Signals(signum).name}")

    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        outcome = await scheduler.run()
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
    return Execution([outcome], received[0] if received else None)


__all__ = ["ResumedScheduler", "resumable", "resume_run"]
