"""The scheduler: one run of one plan, event-driven over the plan's job graph.

How a job moves (every change checked by `runs.rules` and written through the
`RunRecorder`, then told to observers):

1. *queued* until every job it needs has finished (all legs of a matrix job);
2. its `if:` is evaluated with `needs`, `github`, `vars`, `inputs` and the status
   functions (default `success()`); false → *skipped*, which propagates because
   `success()` is false for every job downstream of a skip;
3. a deferred matrix is expanded now that `needs` exist; its legs replace it;
4. holding phase, in the job's own task: its `concurrency` group (*pending*, across
   processes through the store) and the `Gatekeeper` for an `environment` (*waiting*);
5. a slot: at most `--parallel` jobs execute at once (shared by every run in the
   process), and at most `max-parallel` legs of one matrix;
6. the executor runs it; then the `AfterJob` hook may hold it (*waiting*) or fail it;
7. *completed*; a failed leg with `fail-fast` cancels its siblings; dependents whose
   needs are now all done are evaluated at once (no polling between stages).

Cancelling (a signal, `cancel_requested` set by another process, a newer run of
the concurrency group) sets every job's cancel event, completes unstarted jobs as
cancelled at once and waits for executors to return. Jobs with `if: always()` are
cancelled too: a cancelled local run stops.

Writes are batched per turn of the event loop (`RunRecorder`); the store is read
only on the heartbeat (`HEARTBEAT_S`, cancel requests) and while a job or run
waits for its concurrency group (`GROUP_POLL_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stageline.engine import events as ev
from stageline.engine.context import (
    evaluate_if,
    evaluate_value,
    github_context,
    needs_context,
    truthy,
)
from stageline.engine.hooks import AfterJob, Gatekeeper, Hold
from stageline.engine.sink import RecordingSink
from stageline.engine.workroot import run_work_root
from stageline.errors import StagelineError
from stageline.executors.base import Executor, JobRequest, JobResult
from stageline.plan.model import Plan, PlannedJob
from stageline.runner import remove_tree
from stageline.runner.places import LocalDirs
from stageline.runs.rules import (
    aggregate_result,
    effective_result,
    job_status,
    job_transition,
    run_conclusion,
    run_transition,
)
from stageline.runs.states import Conclusion, Status
from stageline.store import db
from stageline.store import runs as store_runs
from stageline.store.queries import reap_orphans

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
GROUP_POLL_S = 0.2

C = Conclusion
S = Status


def plain(value: Any) -> Any:
    """`dataclasses.asdict` without its deep copies (a 2,000-job plan in ~30 ms)."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def default_parallel() -> int:
    """Jobs are mostly waiting on processes and I/O: 2 × cores + 2."""
    return 2 * (os.cpu_count() or 1) + 2


class Slots:
    """The `--parallel` bound, shared by every run of one process."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.free = self.size
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        self._listeners.remove(callback)

    def take(self) -> bool:
        if self.free > 0:
            self.free -= 1
            return True
        return False

    def give(self) -> None:
        self.free += 1
        for callback in list(self._listeners):
            callback()


@dataclass(slots=True)
class RunSpec:
    """Everything a run needs besides its plan's jobs, prepared by `engine.setup`."""

    plan: Plan
    repo_dir: str
    #: vars, inputs, and the evaluated workflow `env` (`github` is added per run).
    contexts: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    extra_env: dict[str, str] = field(default_factory=dict)
    action_dirs: list[str] = field(default_factory=list)
    matrix_filter: dict[str, str] | None = None
    keep_workspaces: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    number: int
    conclusion: Conclusion
    reason: str | None


class _Job:
    """The scheduler's view of one planned job (or matrix leg)."""

    __slots__ = (
        "cancel",
        "cancel_reason",
        "conclusion",
        "continue_on_error",
        "executing",
        "planned",
        "result",
        "runnable_contexts",
        "started_at",
        "status",
        "waiting_for",
    )

    def __init__(self, planned: PlannedJob) -> None:
        self.planned = planned
        self.status: Status = S.QUEUED
        self.conclusion: Conclusion | None = None
        self.result: Conclusion | None = None
        self.cancel = asyncio.Event()
        self.cancel_reason: str | None = None
        self.executing = False
        self.continue_on_error = False
        self.started_at = 0.0
        self.runnable_contexts: dict[str, Any] | None = None
        self.waiting_for: str | None = None


class Scheduler:
    """Runs one plan to completion and records it. Use once: `await run()`."""

    def __init__(
        self,
        store: db.Store,
        executor: Executor,
        spec: RunSpec,
        *,
        observer: ev.Observer | None = None,
        slots: Slots | None = None,
        gatekeeper: Gatekeeper | None = None,
        after_job: AfterJob | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.spec = spec
        self.plan = spec.plan
        self.observer = observer
        self.slots = slots or Slots(default_parallel())
        self.gatekeeper = gatekeeper
        self.after_job = after_job
        self.run_id = 0
        self.number = 0
        self.recorder: store_runs.RunRecorder | None = None
        self._jobs: dict[str, _Job] = {}
        self._legs: dict[str, list[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._needs_left: dict[str, int] = {}
        self._legs_left: dict[str, int] = {}
        self._outputs: dict[str, dict[str, str]] = {}
        self._results: dict[str, Conclusion] = {}
        self._ancestry: dict[str, tuple[bool, bool]] = {}
        self._runnable: deque[str] = deque()
        self._executing: dict[str, int] = {}
        self._unfinished = 0
        self._waiting = 0
        self._run_status: Status | None = None
        self._cancelled: str | None = None
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._github: dict[str, Any] = {}
        self._heartbeat: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._run_group: str | None = None
        self._broken: dict[str, str] = {}
        self._work_root: str | None = None

    # -- public ------------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        """Stop the run: running jobs get their cancel event, unstarted ones end now."""
        if self._cancelled is not None or self._done.is_set():
            return
        self._cancelled = reason
        if self.recorder is not None:
            self._cancel_jobs(reason)

    def _cancel_jobs(self, reason: str) -> None:
        assert self.recorder is not None
        self.recorder.event("run.cancelling", data={"reason": reason})
        for key, job in list(self._jobs.items()):
            if job.status is S.COMPLETED:
                continue
            self._stop(job, reason)
            if job.executing:
                continue
            if key in self._runnable:
                self._runnable.remove(key)
                self._complete(key, C.CANCELLED, reason)
            elif job.status is S.QUEUED and job.runnable_contexts is None:
                self._complete(key, C.CANCELLED, reason)

    async def run(self) -> RunOutcome:
        loop = asyncio.get_running_loop()
        self._started = time.time()
        self._create()
        assert self.recorder is not None
        self._emit(
            ev.RunStarted(
                run_id=str(self.run_id),
                number=self.number,
                workflow=self.plan.workflow_name,
                workflow_path=self.plan.workflow_path,
                event=self.plan.event.name,
                ref=self.plan.event.ref,
                sha=self.plan.event.sha,
                actor=self.plan.event.actor,
                repository=self.plan.event.repository,
                jobs=tuple(self._info(j) for j in self.plan.jobs),
                log_dir=self._log_dir,
            )
        )
        self._heartbeat = loop.call_later(HEARTBEAT_S, self._beat)
        self.slots.listen(self._pump)
        try:
            if await self._run_concurrency() and self._cancelled is None:
                self._set_run_status(S.IN_PROGRESS)
                self.recorder.run(started_at=time.time())
                for key in [k for k, n in self._needs_left.items() if n == 0]:
                    self._ready(key)
                if self._unfinished:
                    await self._done.wait()
            else:
                self._cancelled = self._cancelled or "cancelled"
                self._cancel_jobs(self._cancelled)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            self.slots.unlisten(self._pump)
            if self._heartbeat is not None:
                self._heartbeat.cancel()
        return self._finish()

    # -- setup -------------------------------------------------------------------------

    @property
    def _log_dir(self) -> str:
        return str(self.store.logs_dir / str(self.run_id))

    def _create(self) -> None:
        plan = self.plan
        event = plan.event
        # The group is decided before the run exists: `github.run_id` reads as "0" here.
        self._github = github_context(plan, run_id=0, run_number=0)
        group = self._run_group = self._group(plan.concurrency_group, {})
        new_run = store_runs.NewRun(
            repo_path=self.spec.repo_dir,
            repository=event.repository,
            workflow=plan.workflow_name,
            workflow_path=plan.workflow_path,
            event=event.name,
            ref=event.ref,
            sha=event.sha,
            actor=event.actor,
            plan=plain(plan),
            concurrency_group=group,
        )
        new_jobs = [self._new_job(j) for j in plan.jobs]
        self.run_id, self.number = store_runs.create_run(
            self.store, new_run, new_jobs, str(self.store.logs_dir)
        )
        loop = asyncio.get_running_loop()
        self.recorder = store_runs.RunRecorder(
            self.store, self.run_id, lambda _flush: loop.call_soon(self._flush)
        )
        self._run_status = S.QUEUED
        self._github = github_context(plan, run_id=self.run_id, run_number=self.number)
        for job in plan.jobs:
            self._add(job)
        self._broken = self._unrunnable(plan.jobs)
        for job in plan.jobs:
            needed = set(job.needs) & set(self._legs) if job.job_id not in self._broken else set()
            self._needs_left[job.key] = len(needed)
            for job_id in needed:
                self._dependents.setdefault(job_id, []).append(job.key)

    @staticmethod
    def _unrunnable(jobs: list[PlannedJob]) -> dict[str, str]:
        """Job ids that can never become ready (validation rejects these plans; a
        hand-built one must fail clearly rather than wait forever), with why."""
        needs: dict[str, set[str]] = {}
        for job in jobs:
            needs.setdefault(job.job_id, set()).update(job.needs)
        broken = {
            job_id: f"needs unknown job(s): {', '.join(sorted(wanted - needs.keys()))}"
            for job_id, wanted in needs.items()
            if wanted - needs.keys()
        }
        left = {j: len(wanted & needs.keys()) for j, wanted in needs.items()}
        users: dict[str, list[str]] = {}
        for job_id, wanted in needs.items():
            for need in wanted & needs.keys():
                users.setdefault(need, []).append(job_id)
        done: set[str] = set()
        ready = [j for j, count in left.items() if not count]
        while ready:
            job_id = ready.pop()
            done.add(job_id)
            for user in users.get(job_id, []):
                left[user] -= 1
                if not left[user]:
                    ready.append(user)
        for job_id in needs.keys() - done:
            broken.setdefault(job_id, "its needs form a cycle")
        return broken

    def _new_job(self, job: PlannedJob) -> store_runs.NewJob:
        return store_runs.NewJob(
            key=job.key,
            job_id=job.job_id,
            name=job.name,
            needs=list(job.needs),
            matrix=job.matrix,
            environment=job.environment.name if job.environment else None,
            concurrency_group=None,
        )

    def _add(self, job: PlannedJob) -> None:
        self._jobs[job.key] = _Job(job)
        self._legs.setdefault(job.job_id, []).append(job.key)
        self._legs_left[job.job_id] = self._legs_left.get(job.job_id, 0) + 1
        self._unfinished += 1

    @staticmethod
    def _info(job: PlannedJob) -> ev.JobInfo:
        return ev.JobInfo(
            key=job.key,
            job_id=job.job_id,
            name=job.name,
            needs=tuple(job.needs),
            matrix=job.matrix,
        )

    # -- readiness ---------------------------------------------------------------------

    def _base_contexts(self, job: PlannedJob) -> dict[str, Any]:
        contexts = dict(self.spec.contexts)
        contexts["github"] = {**self._github, "job": job.job_id}
        contexts["needs"] = needs_context(job.needs, self._results, self._outputs)
        return contexts

    def _status(self, job: PlannedJob) -> str:
        succeeded, failed = True, False
        for job_id in job.needs:
            result = self._results.get(job_id, C.SKIPPED)
            up_ok, up_failed = self._ancestry.get(job_id, (True, False))
            succeeded = succeeded and up_ok and result is C.SUCCESS
            failed = failed or up_failed or result is C.FAILURE
        self._ancestry[job.job_id] = (succeeded, failed)
        return job_status(succeeded, failed, self._cancelled is not None)

    def _ready(self, key: str) -> None:
        """All needs of `key` are done: decide whether it runs."""
        job = self._jobs[key]
        if job.status is not S.QUEUED or job.runnable_contexts is not None:
            return
        planned = job.planned
        if self._cancelled is not None:
            self._complete(key, C.CANCELLED, self._cancelled)
            return
        if planned.job_id in self._broken:
            self._complete(key, C.FAILURE, self._broken[planned.job_id])
            return
        contexts = self._base_contexts(planned)
        try:
            runs = evaluate_if(planned.if_, contexts, self._status(planned))
        except StagelineError as err:
            self._complete(key, C.FAILURE, f"if: {err.message}")
            return
        if not runs:
            self._complete(key, C.SKIPPED, None)
            return
        if planned.deferred_matrix is not None:
            legs = self._expand(key, contexts)
            if legs is None:
                return
            for leg in legs:
                self._admit(leg, contexts)
            return
        self._admit(key, contexts)

    def _expand(self, key: str, contexts: dict[str, Any]) -> list[str] | None:
        from stageline.plan.compile import expand_deferred

        placeholder = self._jobs[key].planned
        try:
            legs = expand_deferred(placeholder, contexts, matrix_filter=self.spec.matrix_filter)
        except StagelineError as err:
            self._complete(key, C.FAILURE, f"matrix: {err.message}")
            return None
        assert self.recorder is not None
        del self._jobs[key]
        self._legs[placeholder.job_id].remove(key)
        self._legs_left[placeholder.job_id] -= 1
        self._unfinished -= 1
        for leg in legs:
            self._add(leg)
        self.recorder.add_jobs([self._new_job(leg) for leg in legs], replacing=key)
        for leg in legs:
            self._emit(ev.JobQueued(run_id=str(self.run_id), job=self._info(leg)))
        return [leg.key for leg in legs]

    def _admit(self, key: str, contexts: dict[str, Any]) -> None:
        """The job will run: hold it where needed, then queue it for a slot."""
        job = self._jobs[key]
        planned = job.planned
        contexts = dict(contexts)
        contexts["matrix"] = dict(planned.matrix or {})
        contexts["strategy"] = {
            "fail-fast": planned.fail_fast,
            "job-index": planned.strategy_index,
            "job-total": planned.strategy_total,
            "max-parallel": planned.max_parallel or planned.strategy_total,
        }
        job.runnable_contexts = contexts
        try:
            job.continue_on_error = truthy(evaluate_value(planned.continue_on_error, contexts))
        except StagelineError as err:
            self._complete(key, C.FAILURE, f"continue-on-error: {err.message}")
            return
        if planned.concurrency_group or (planned.environment and self.gatekeeper):
            self._spawn(self._hold_then_queue(key))
        else:
            self._runnable.append(key)
            self._pump()

    async def _hold_then_queue(self, key: str) -> None:
        try:
            await self._hold_phase(key)
        except Exception as err:  # a fault of a hook or of the store, not of the job
            log.exception("holding %s failed", key)
            self._complete(key, C.FAILURE, f"could not start: {err!r}")

    async def _hold_phase(self, key: str) -> None:
        job = self._jobs[key]
        contexts = job.runnable_contexts or {}
        planned = job.planned
        if planned.concurrency_group:
            group = self._group(planned.concurrency_group, contexts)
            if group and not await self._job_concurrency(key, group, contexts):
                return
        if planned.environment and self.gatekeeper and not job.cancel.is_set():
            decision = await self.gatekeeper.admit(self._hold(key))
            if job.status is S.COMPLETED:
                return
            if not decision.allow and not job.cancel.is_set():
                self._complete(key, C.FAILURE, decision.reason or "the environment gate refused")
                return
        if job.cancel.is_set():
            self._complete(key, C.CANCELLED, job.cancel_reason or "cancelled")
            return
        self._runnable.append(key)
        self._pump()

    def _hold(self, key: str) -> Hold:
        job = self._jobs[key]
        return Hold(
            run_id=self.run_id,
            job=job.planned,
            contexts=job.runnable_contexts or {},
            cancel=job.cancel,
            wait=lambda text: self._wait(key, text),
        )

    # -- execution ---------------------------------------------------------------------

    def _max_parallel(self, job: _Job) -> int | None:
        value = job.planned.max_parallel
        if value is None:
            return None
        try:
            return max(1, int(evaluate_value(value, job.runnable_contexts or {})))
        except (StagelineError, TypeError, ValueError):
            return None

    def _pump(self) -> None:
        """Start every runnable job a slot allows, in the order they became runnable."""
        if not self._runnable:
            return
        blocked: deque[str] = deque()
        while self._runnable:
            key = self._runnable.popleft()
            job = self._jobs[key]
            limit = self._max_parallel(job)
            if limit is not None and self._executing.get(job.planned.job_id, 0) >= limit:
                blocked.append(key)
                continue
            if not self.slots.take():
                blocked.append(key)
                blocked.extend(self._runnable)
                self._runnable.clear()
                break
            self._executing[job.planned.job_id] = self._executing.get(job.planned.job_id, 0) + 1
            job.executing = True
            self._spawn(self._execute(key))
        self._runnable = blocked

    async def _execute(self, key: str) -> None:
        job = self._jobs[key]
        planned = job.planned
        assert self.recorder is not None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                job.executing = False
                self._executing[planned.job_id] -= 1
                self.slots.give()

        try:
            self._transition(key, S.IN_PROGRESS)
            job.started_at = time.time()
            self.recorder.job(key, status=S.IN_PROGRESS, started_at=job.started_at)
            self.recorder.event("job.started", key)
            self._emit(ev.JobStarted(run_id=str(self.run_id), job_key=key, name=planned.name))
            sink = RecordingSink(self, key)
            try:
                result = await self.executor.run_job(self._request(job), sink, job.cancel)
            except Exception as err:  # a fault of the executor, not of the job
                log.exception("executor %s failed on %s", self.executor.name, key)
                result = JobResult(C.FAILURE, reason=f"executor fault: {err!r}")
            release()
            if result.conclusion is C.SUCCESS and self.after_job is not None:
                try:
                    result = await self.after_job.after_job(self._hold(key), result)
                except Exception as err:
                    log.exception("after-job hook failed on %s", key)
                    result = JobResult(C.FAILURE, result.outputs, reason=f"after the job: {err!r}")
            tail = tuple(sink.tail) if result.conclusion is not C.SUCCESS else ()
            reason = result.reason
            if result.conclusion is C.CANCELLED and job.cancel_reason:
                reason = job.cancel_reason
            self._complete(key, result.conclusion, reason, result.outputs, tail)
        finally:
            release()
            if job.status is not S.COMPLETED:
                self._complete(key, C.CANCELLED, self._cancelled or "interrupted")

    def _request(self, job: _Job) -> JobRequest:
        home = self.store.home
        run = str(self.run_id)
        local = LocalDirs(
            repo_dir=self.spec.repo_dir,
            work_root=self._work(),
            artifacts_dir=str(home / "artifacts" / run),
            cache_dir=str(home / "cache"),
            log_dir=self._log_dir,
            action_dirs=list(self.spec.action_dirs),
        )
        return JobRequest(
            run_id=run,
            job=job.planned,
            contexts=dict(job.runnable_contexts or {}),
            sha=self.plan.event.sha,
            ref=self.plan.event.ref,
            secrets=dict(self.spec.secrets),
            extra_env=dict(self.spec.extra_env),
            keep_workspace=self.spec.keep_workspaces,
            local=local,
        )

    def _work(self) -> str:
        """The run's work root, chosen when its first job starts (see `engine.workroot`)."""
        if self._work_root is None:
            keep = self.spec.keep_workspaces
            self._work_root = run_work_root(self.store.home, self.run_id, keep=keep)
        return self._work_root

    @staticmethod
    def _stop(job: _Job, reason: str) -> None:
        """Ask one job to stop; the first reason given is the one recorded."""
        job.cancel_reason = job.cancel_reason or reason
        job.cancel.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- transitions -------------------------------------------------------------------

    def _transition(self, key: str, target: Status, conclusion: Conclusion | None = None) -> None:
        job = self._jobs[key]
        job_transition(job.status, target, conclusion)
        if job.status is S.WAITING:
            self._waiting -= 1
            job.waiting_for = None
        if target is S.WAITING:
            self._waiting += 1
        job.status = target
        self._refresh_run_status()

    def _wait(self, key: str, waiting_for: str) -> None:
        """A hook holds `key`: record it as waiting for `waiting_for`."""
        job = self._jobs[key]
        if job.status is S.COMPLETED:
            return
        assert self.recorder is not None
        job.waiting_for = waiting_for
        self.recorder.job(key, status=S.WAITING, waiting_for=waiting_for)
        if job.status is not S.WAITING:
            self._transition(key, S.WAITING)
        elif self._run_status is S.WAITING:  # a new reason for the same hold: say it on the run too
            self.recorder.run(waiting_for=self._run_waiting_for())
        self.recorder.event("job.waiting", key, {"waiting_for": waiting_for})
        self._emit(
            ev.JobWaiting(
                run_id=str(self.run_id), job_key=key, name=job.planned.name, waiting_for=waiting_for
            )
        )

    def _complete(
        self,
        key: str,
        conclusion: Conclusion,
        reason: str | None,
        outputs: Mapping[str, str] | None = None,
        tail: tuple[str, ...] = (),
    ) -> None:
        job = self._jobs[key]
        if job.status is S.COMPLETED:
            return
        assert self.recorder is not None
        planned = job.planned
        if conclusion is C.FAILURE and job.continue_on_error:
            reason = reason or "failed (continue-on-error: the run goes on)"
        self._transition(key, S.COMPLETED, conclusion)
        job.conclusion = conclusion
        job.result = effective_result(conclusion, job.continue_on_error)
        now = time.time()
        outs = dict(outputs or {})
        self.recorder.job(
            key,
            status=S.COMPLETED,
            conclusion=conclusion,
            finished_at=now,
            outputs=outs,
            reason=reason,
            waiting_for=None,
        )
        self.recorder.event("job.finished", key, {"conclusion": conclusion, "reason": reason})
        self._emit(
            ev.JobFinished(
                run_id=str(self.run_id),
                job_key=key,
                name=planned.name,
                conclusion=conclusion,
                reason=reason,
                outputs=outs,
                duration=now - job.started_at if job.started_at else 0.0,
                tail=tail,
            )
        )
        merged = self._outputs.setdefault(planned.job_id, {})
        merged.update({k: v for k, v in outs.items() if v not in ("", None)})
        for name in outs:
            merged.setdefault(name, "")
        self._unfinished -= 1
        self._legs_left[planned.job_id] -= 1
        if job.result is C.FAILURE and planned.strategy_total > 1:
            self._fail_fast(job)
        job.runnable_contexts = None  # a finished job's contexts are not needed again
        if self._legs_left[planned.job_id] == 0:
            self._job_id_done(planned.job_id)
        if self._unfinished == 0:
            self._done.set()

    def _job_id_done(self, job_id: str) -> None:
        results = [self._jobs[k].result or C.SKIPPED for k in self._legs.get(job_id, [])]
        self._results[job_id] = aggregate_result(results)
        for dependent in self._dependents.get(job_id, []):
            if dependent not in self._needs_left:
                continue
            self._needs_left[dependent] -= 1
            if self._needs_left[dependent] == 0 and dependent in self._jobs:
                self._ready(dependent)

    def _fail_fast(self, failed: _Job) -> None:
        planned = failed.planned
        try:
            enabled = truthy(evaluate_value(planned.fail_fast, failed.runnable_contexts or {}))
        except StagelineError:
            enabled = True
        if not enabled:
            return
        reason = f"fail-fast: {planned.name} failed"
        for key in list(self._legs.get(planned.job_id, [])):
            sibling = self._jobs[key]
            if sibling is failed or sibling.status is S.COMPLETED:
                continue
            self._stop(sibling, reason)
            if sibling.executing:
                continue  # the executor stops and reports it cancelled
            if key in self._runnable:
                self._runnable.remove(key)
                self._complete(key, C.CANCELLED, reason)
            elif sibling.runnable_contexts is None:
                self._complete(key, C.CANCELLED, reason)
            # else: in its holding phase; that task sees the event and completes it

    def _refresh_run_status(self) -> None:
        if self._run_status in (None, S.QUEUED, S.PENDING, S.COMPLETED):
            return
        executing = any(j.executing for j in self._jobs.values()) if self._waiting else True
        target = S.WAITING if self._waiting and not executing else S.IN_PROGRESS
        if target is not self._run_status:
            self._set_run_status(target)

    def _run_waiting_for(self) -> str:
        """The run's `waiting_for`: what its first waiting job waits for."""
        return next(
            (
                f"{j.planned.name}: {j.waiting_for}"
                for j in self._jobs.values()
                if j.status is S.WAITING
            ),
            "",
        )

    def _set_run_status(self, target: Status) -> None:
        assert self.recorder is not None
        run_transition(self._run_status, target)
        self._run_status = target
        if target is S.WAITING:
            text = self._run_waiting_for()
            self.recorder.run(status=target, waiting_for=text)
            self._emit(ev.RunWaiting(run_id=str(self.run_id), waiting_for=text))
        else:
            self.recorder.run(status=target, waiting_for=None)
        self.recorder.event(f"run.{target}")

    # -- concurrency groups ------------------------------------------------------------

    def _group(self, text: str | None, contexts: Mapping[str, Any]) -> str | None:
        if not text:
            return None
        scope = {**self.spec.contexts, "github": self._github or {}, **contexts}
        try:
            value = evaluate_value(text, scope)
        except StagelineError:
            return str(text)
        return str(value) if value not in (None, "") else None

    async def _run_concurrency(self) -> bool:
        """Wait for older runs of the workflow's group; False if this run must not start."""
        group = self._run_group
        if not group:
            return True
        cancel_older = truthy(
            self._safe_value(self.plan.concurrency_cancel_in_progress, {"github": self._github})
        )
        announced = False
        reap_orphans(self.store)
        while self._cancelled is None:
            members = store_runs.active_runs_in_group(self.store, group)
            older = [m for m in members if m.run_id < self.run_id]
            newer = [m for m in members if m.run_id > self.run_id]
            if newer:
                self._cancelled = (
                    f"superseded by run #{newer[-1].number} in concurrency group '{group}'"
                )
                return False
            if not older:
                return True
            if cancel_older:
                for member in older:
                    store_runs.request_cancel(
                        self.store,
                        member.run_id,
                        f"cancelled by run #{self.number} (concurrency group '{group}', "
                        "cancel-in-progress)",
                    )
            if not announced:
                announced = True
                assert self.recorder is not None
                numbers = ", ".join(f"#{m.number}" for m in older)
                self._run_status = S.PENDING
                run_transition(S.QUEUED, S.PENDING)
                self.recorder.run(
                    status=S.PENDING, waiting_for=f"concurrency group '{group}' ({numbers})"
                )
                self.recorder.flush()
            await asyncio.sleep(GROUP_POLL_S)
        return False

    async def _job_concurrency(self, key: str, group: str, contexts: Mapping[str, Any]) -> bool:
        """Wait for older jobs of `group` (in any run); False if this job ended meanwhile."""
        assert self.recorder is not None
        job = self._jobs[key]
        cancel_older = truthy(
            self._safe_value(job.planned.concurrency_cancel_in_progress, contexts)
        )
        self._transition(key, S.PENDING)
        self.recorder.job(
            key,
            status=S.PENDING,
            concurrency_group=group,
            waiting_for=f"concurrency group '{group}'",
        )
        self.recorder.flush()
        mine = store_runs.job_pk(self.store, self.run_id, key)
        reap_orphans(self.store)
        asked: set[int] = set()
        while not job.cancel.is_set():
            members = store_runs.active_jobs_in_group(self.store, group)
            older = [m for m in members if m.job_pk is not None and m.job_pk < mine]
            newer = [m for m in members if m.job_pk is not None and m.job_pk > mine]
            if newer:
                self._complete(
                    key,
                    C.CANCELLED,
                    f"superseded by a newer job (run #{newer[-1].number}) "
                    f"in concurrency group '{group}'",
                )
                return False
            if not older:
                return True
            if cancel_older:
                for member in older:
                    if member.job_pk is not None and member.job_pk not in asked:
                        asked.add(member.job_pk)
                        store_runs.request_job_cancel(
                            self.store,
                            member.job_pk,
                            f"cancelled by run #{self.number} (concurrency group '{group}', "
                            "cancel-in-progress)",
                        )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.cancel.wait(), GROUP_POLL_S)
        self._complete(key, C.CANCELLED, job.cancel_reason or "cancelled")
        return False

    @staticmethod
    def _safe_value(value: Any, contexts: Mapping[str, Any]) -> Any:
        try:
            return evaluate_value(value, contexts)
        except StagelineError:
            return False

    # -- heartbeat, end ----------------------------------------------------------------

    def _flush(self) -> None:
        """Write what this turn of the loop recorded. If the record cannot be written
        (a full disk), the writes stay queued and the run is cancelled: going on
        unrecorded would break the rule that the store is the source of truth."""
        assert self.recorder is not None
        try:
            self.recorder.flush()
        except StagelineError as err:
            log.error("%s", err)
            self.cancel(f"the record cannot be written: {err.message}")

    def _beat(self) -> None:
        if self._done.is_set():
            return
        assert self.recorder is not None
        self._flush()
        try:
            controls = store_runs.heartbeat(self.store, self.run_id)
        except StagelineError:
            log.exception("heartbeat failed")
        else:
            if controls.cancel_run:
                self.cancel(controls.cancel_run)
            for key, reason in controls.cancel_jobs.items():
                job = self._jobs.get(key)
                if job is not None and job.status is not S.COMPLETED:
                    self._stop(job, reason)
                    if not job.executing and key in self._runnable:
                        self._runnable.remove(key)
                        self._complete(key, C.CANCELLED, reason)
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_S, self._beat)

    def _finish(self) -> RunOutcome:
        assert self.recorder is not None
        results = [j.result for j in self._jobs.values() if j.result is not None]
        conclusion = run_conclusion(results, self._cancelled is not None)
        reason = self._cancelled
        if reason is None and conclusion is C.FAILURE:
            failed = [j.planned.name for j in self._jobs.values() if j.result is C.FAILURE]
            reason = "failed: " + ", ".join(failed)
        run_transition(self._run_status, S.COMPLETED, conclusion)
        self._run_status = S.COMPLETED
        now = time.time()
        self.recorder.run(
            status=S.COMPLETED,
            conclusion=conclusion,
            finished_at=now,
            reason=reason,
            waiting_for=None,
            heartbeat_at=now,
        )
        self.recorder.event("run.finished", data={"conclusion": conclusion, "reason": reason})
        self.recorder.flush()
        self._cleanup()
        self._emit(
            ev.RunFinished(
                run_id=str(self.run_id),
                number=self.number,
                workflow=self.plan.workflow_name,
                conclusion=conclusion,
                reason=reason,
                duration=now - self._started,
            )
        )
        return RunOutcome(self.run_id, self.number, conclusion, reason)

    def _cleanup(self) -> None:
        """Remove the run's work root (executors remove their workspaces; this catches
        what an executor fault left behind) unless workspaces are kept."""
        if self.spec.keep_workspaces:
            return
        root = Path(self.store.home) / "work" / str(self.run_id)
        shutil.rmtree(root, ignore_errors=True)
        if self._work_root is not None and self._work_root != str(root):
            remove_tree(self._work_root)

    def _emit(self, event: ev.EngineEvent) -> None:
        if self.observer is not None:
            self.observer.handle(event)
