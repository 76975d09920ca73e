"""The scheduler: one run of one plan, event-driven over the plan's job graph.

How a job moves (every change checked by `runs.rules` and written through the
`Recorder`, then told to observers):

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

The scheduler is a thin loop: what a run knows lives in `engine.state.RunState`
(the rules it applies in `runs.rules`); each change it makes is recorded and told
to observers (`engine.recording`), and the jobs it admits are held
(`engine.concurrency`, the hooks) and dispatched to the executor. A resumed run is
the same loop over a `RunState.from_record` (`engine.resume`).

Writes are batched per turn of the event loop (`store.ports.Recorder`); the store is
read only on the heartbeat (`HEARTBEAT_S`, cancel requests) and while a job or run
waits for its concurrency group (`concurrency.GROUP_POLL_S`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stageline.engine import events as ev
from stageline.engine.concurrency import enabled, group_name, wait_job_turn, wait_run_turn
from stageline.engine.context import github_context
from stageline.engine.hooks import AfterJob, Gatekeeper, Hold
from stageline.engine.layout import RunLayout
from stageline.engine.recording import Recording
from stageline.engine.sink import RecordingSink
from stageline.engine.state import Effects, JobState, RunState
from stageline.errors import StagelineError
from stageline.executors.base import Executor, JobRequest, JobResult
from stageline.plan.model import Plan, PlannedJob
from stageline.runner.places import LocalDirs
from stageline.runs.states import Conclusion, Status
from stageline.store import db, faults
from stageline.store.ports import Recorder
from stageline.store.records import NewJob, NewRun

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0

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
    #: Names given with --secret or a secret file: a stored secret never replaces them.
    given_secrets: frozenset[str] = frozenset()
    extra_env: dict[str, str] = field(default_factory=dict)
    action_dirs: list[str] = field(default_factory=list)
    matrix_filter: dict[str, list[str]] | None = None
    keep_workspaces: bool = False


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    number: int
    conclusion: Conclusion
    reason: str | None


class Scheduler:
    """Runs one plan to completion and records it. Use once: `await run()`.

    `state`: continue the recorded run that `RunState.from_record` describes
    instead of creating a new one (`engine.resume`)."""

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
        state: RunState | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.spec = spec
        self.plan = spec.plan
        self.observer = observer
        self.slots = slots or Slots(default_parallel())
        self.gatekeeper = gatekeeper
        self.after_job = after_job
        self.run_id = state.run_id if state is not None else 0
        self.number = state.number if state is not None else 0
        self._resumed = state
        self.state: RunState
        self.layout: RunLayout
        self.recording: Recording
        self._created = False
        self._early_cancel: str | None = None
        self._cancels: dict[str, asyncio.Event] = {}
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._run_group: str | None = None

    @property
    def recorder(self) -> Recorder:
        return self.recording.recorder

    # -- public ------------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        """Stop the run: running jobs get their cancel event, unstarted ones end now."""
        if not self._created:  # asked before the run exists: it stops as soon as it does
            self._early_cancel = self._early_cancel or reason
            return
        if self.state.cancelled is not None or self._done.is_set():
            return
        self._cancel_jobs(reason)

    def _cancel_jobs(self, reason: str) -> None:
        self.recorder.event("run.cancelling", data={"reason": reason})
        self._follow(self.state.cancel(reason))

    async def run(self) -> RunOutcome:
        loop = asyncio.get_running_loop()
        self._started = time.time()
        self._create()
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
                log_dir=self.layout.log_dir,
            )
        )
        self._heartbeat = loop.call_later(HEARTBEAT_S, self._beat)
        self.slots.listen(self._pump)
        try:
            superseded = await self._run_concurrency()
            if superseded is None and self.state.cancelled is None:
                self._set_run_status(S.IN_PROGRESS)
                self.recorder.run(started_at=time.time())
                self._follow(self.state.start())
                if not self.state.done:
                    await self._done.wait()
            else:
                self._cancel_jobs(self.state.cancelled or superseded or "cancelled")
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            self.slots.unlisten(self._pump)
            if self._heartbeat is not None:
                self._heartbeat.cancel()
        return self._finish()

    # -- setup -------------------------------------------------------------------------

    def _create(self) -> None:
        """Create the run's record and state (or take the resumed run's)."""
        plan = self.plan
        event = plan.event
        # The group is decided before the run exists: `github.run_id` reads as "0" here.
        unnumbered = github_context(plan, run_id=0, run_number=0)
        group = self._run_group = group_name(
            plan.concurrency_group, {**self.spec.contexts, "github": unnumbered}
        )
        if self._resumed is not None:
            self.state = self._resumed
        else:
            new_run = NewRun(
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
            self.run_id, self.number = self.store.runs.create_run(
                new_run, new_jobs, str(RunLayout.logs_root(self.store.home))
            )
            self.state = RunState(
                plan,
                run_id=self.run_id,
                number=self.number,
                contexts=self.spec.contexts,
                github=github_context(plan, run_id=self.run_id, run_number=self.number),
                matrix_filter=self.spec.matrix_filter,
                secrets=self.spec.secrets,
                extra_env=self.spec.extra_env,
            )
        self.layout = RunLayout(
            self.store.home, self.run_id, keep_workspaces=self.spec.keep_workspaces
        )
        self.recording = Recording(
            self.store, self.run_id, self.observer, self.cancel, self.spec.secrets.values()
        )
        self._created = True
        if self._early_cancel is not None:
            self.state.cancelled = self.state.cancelled or self._early_cancel

    @staticmethod
    def _new_job(job: PlannedJob) -> NewJob:
        return NewJob(
            key=job.key,
            job_id=job.job_id,
            name=job.name,
            needs=list(job.needs),
            matrix=job.matrix,
            environment=job.environment.name if job.environment else None,
            concurrency_group=None,
        )

    @staticmethod
    def _info(job: PlannedJob) -> ev.JobInfo:
        return ev.JobInfo(
            key=job.key,
            job_id=job.job_id,
            name=job.name,
            needs=tuple(job.needs),
            matrix=job.matrix,
        )

    # -- following the state -----------------------------------------------------------

    def _follow(self, effects: Effects) -> None:
        """Carry out what a change of the state says follows."""
        for key in effects.stop:
            event = self._cancels.get(key)
            if event is not None:
                event.set()
        if effects.legs:
            self.recorder.add_jobs(
                [self._new_job(leg) for leg in effects.legs], replacing=effects.replaced
            )
            for leg in effects.legs:
                self._emit(ev.JobQueued(run_id=str(self.run_id), job=self._info(leg)))
        for key, conclusion, reason in effects.end:
            self._complete(key, conclusion, reason)
        for key in effects.environments:
            environment = self.state.jobs[key].planned.environment
            self.recorder.job(key, environment=environment.name if environment else None)
        for key in effects.admitted:
            self._admit(key)
        for key in effects.ready:
            self._ready(key)

    def _ready(self, key: str) -> None:
        """All needs of `key` are done: the state decides whether it runs."""
        self._follow(self.state.ready(key))

    def _admit(self, key: str) -> None:
        """The job will run: hold it where needed, then queue it for a slot."""
        planned = self.state.jobs[key].planned
        if planned.concurrency_group or (planned.environment and self.gatekeeper):
            self._spawn(self._hold_then_queue(key))
        else:
            self.state.queue(key)
            self._pump()

    def _cancel_event(self, key: str) -> asyncio.Event:
        """The event `key`'s executor and hooks watch (set once it is asked to stop)."""
        event = self._cancels.get(key)
        if event is None:
            event = self._cancels[key] = asyncio.Event()
            if self.state.jobs[key].cancel_reason is not None:
                event.set()
        return event

    async def _hold_then_queue(self, key: str) -> None:
        try:
            await self._hold_phase(key)
        except Exception as err:  # a fault of a hook or of the store, not of the job
            log.exception("holding %s failed", key)
            self._complete(key, C.FAILURE, f"could not start: {err!r}")

    async def _hold_phase(self, key: str) -> None:
        job = self.state.jobs[key]
        contexts = job.contexts or {}
        planned = job.planned
        cancel = self._cancel_event(key)
        if planned.concurrency_group:
            group = group_name(
                planned.concurrency_group,
                {**self.spec.contexts, "github": self.state.github, **contexts},
            )
            if group and not await self._job_concurrency(key, group, contexts):
                return
        if planned.environment and self.gatekeeper and not cancel.is_set():
            decision = await self.gatekeeper.admit(self._hold(key))
            if job.status is S.COMPLETED:
                return
            if not decision.allow and not cancel.is_set():
                self._complete(key, C.FAILURE, decision.reason or "the environment gate refused")
                return
            released = {
                k: v for k, v in decision.secrets.items() if k not in self.spec.given_secrets
            }
            if released:
                self.recording.add_secrets(released.values())
                own = self.spec.secrets if job.secrets is None else job.secrets
                job.secrets = {**own, **released}
        if cancel.is_set():
            self._complete(key, C.CANCELLED, job.cancel_reason or "cancelled")
            return
        self.state.queue(key)
        self._pump()

    def _hold(self, key: str) -> Hold:
        job = self.state.jobs[key]
        return Hold(
            run_id=self.run_id,
            job=job.planned,
            contexts=job.contexts or {},
            cancel=self._cancel_event(key),
            wait=lambda text: self._wait(key, text),
        )

    # -- execution ---------------------------------------------------------------------

    def _pump(self) -> None:
        """Start every queued job a slot allows, in the order they were queued."""
        for key in self.state.dispatch(self.slots.take):
            self._spawn(self._execute(key))

    async def _execute(self, key: str) -> None:
        job = self.state.jobs[key]
        planned = job.planned
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.state.release(key)
                self.slots.give()

        try:
            self._transition(key, S.IN_PROGRESS)
            job.started_at = time.time()
            self.recorder.job(key, status=S.IN_PROGRESS, started_at=job.started_at)
            self.recorder.event("job.started", key)
            self._emit(ev.JobStarted(run_id=str(self.run_id), job_key=key, name=planned.name))
            # -- the executor contract: one request, one sink, one cancel event --------
            sink = RecordingSink(self.recording, key, lambda text: self._executor_hold(key, text))
            try:
                result = await self.executor.run_job(
                    self._request(job), sink, self._cancel_event(key)
                )
            except Exception as err:  # a fault of the executor, not of the job
                log.exception("executor %s failed on %s", self.executor.name, key)
                result = JobResult(C.FAILURE, reason=f"executor fault: {err!r}")
            # -- end of the executor contract ---------------------------------------
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
                self._complete(key, C.CANCELLED, self.state.cancelled or "interrupted")

    def _request(self, job: JobState) -> JobRequest:
        layout = self.layout
        local = LocalDirs(
            repo_dir=self.spec.repo_dir,
            work_root=layout.work_root(),
            artifacts_dir=layout.artifacts_dir,
            cache_dir=layout.cache_dir,
            log_dir=layout.log_dir,
            action_dirs=list(self.spec.action_dirs),
        )
        return JobRequest(
            run_id=str(self.run_id),
            job=job.planned,
            contexts=dict(job.contexts or {}),
            sha=self.plan.event.sha,
            ref=self.plan.event.ref,
            secrets=dict(self.spec.secrets if job.secrets is None else job.secrets),
            extra_env=dict(self.spec.extra_env),
            keep_workspace=self.spec.keep_workspaces,
            attempt=self.state.attempt,
            local=local,
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- transitions: apply to the state, record, tell -----------------------------------

    def _transition(self, key: str, target: Status) -> None:
        moved = self.state.transition(key, target)
        if moved is not None:
            self._record_run_status(moved)

    def _wait(self, key: str, waiting_for: str) -> None:
        """A hook holds `key`: record it as waiting for `waiting_for`."""
        job = self.state.jobs[key]
        if job.status is S.COMPLETED:
            return
        was_waiting = job.status is S.WAITING
        self.recorder.job(key, status=S.WAITING, waiting_for=waiting_for)
        moved = self.state.wait(key, waiting_for)
        if moved is not None:
            self._record_run_status(moved)
        elif was_waiting and self.state.run_status is S.WAITING:
            # a new reason for the same hold: say it on the run too
            self.recorder.run(waiting_for=self.state.run_waiting_for())
        self.recorder.event("job.waiting", key, {"waiting_for": waiting_for})
        self._emit(
            ev.JobWaiting(
                run_id=str(self.run_id), job_key=key, name=job.planned.name, waiting_for=waiting_for
            )
        )

    def _executor_hold(self, key: str, waiting_for: str | None) -> None:
        """The executor holds the running job `key` (no worker serves it), or lets it go
        (None): a job waits as for a gate, and is in progress again once it runs."""
        if waiting_for is not None:
            self._wait(key, waiting_for)
        elif self.state.jobs[key].status is S.WAITING:
            self._transition(key, S.IN_PROGRESS)
            self.recorder.job(key, status=S.IN_PROGRESS, waiting_for=None)

    def _complete(
        self,
        key: str,
        conclusion: Conclusion,
        reason: str | None,
        outputs: Mapping[str, str] | None = None,
        tail: tuple[str, ...] = (),
    ) -> None:
        job = self.state.jobs.get(key)
        if job is None or job.status is S.COMPLETED:
            return
        outs = dict(outputs or {})
        effects = self.state.complete(key, conclusion, reason, outs)
        if effects.run_status is not None:
            self._record_run_status(effects.run_status)
        reason = effects.reason
        now = time.time()
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
                name=job.planned.name,
                conclusion=conclusion,
                reason=reason,
                outputs=outs,
                duration=now - job.started_at if job.started_at else 0.0,
                tail=tail,
            )
        )
        faults.point("job.finished")  # tests/faults: die between a job and the next
        self._follow(effects)
        if self.state.done:
            self._done.set()

    def _set_run_status(self, target: Status) -> None:
        self.state.set_run_status(target)
        self._record_run_status(target)

    def _record_run_status(self, target: Status) -> None:
        if target is S.WAITING:
            text = self.state.run_waiting_for()
            self.recorder.run(status=target, waiting_for=text)
            self._emit(ev.RunWaiting(run_id=str(self.run_id), waiting_for=text))
        else:
            self.recorder.run(status=target, waiting_for=None)
        self.recorder.event(f"run.{target}")

    # -- concurrency groups ------------------------------------------------------------

    async def _run_concurrency(self) -> str | None:
        """Wait for older runs of the workflow's group; why the run must not start, if so."""
        group = self._run_group
        if not group:
            return None

        def announce(text: str) -> None:
            self.state.set_run_status(S.PENDING)
            self.recorder.run(status=S.PENDING, waiting_for=text)
            self.recorder.flush()

        return await wait_run_turn(
            self.store,
            group,
            run_id=self.run_id,
            number=self.number,
            cancel_older=enabled(
                self.plan.concurrency_cancel_in_progress, {"github": self.state.github}
            ),
            stopped=lambda: self.state.cancelled is not None,
            announce=announce,
        )

    async def _job_concurrency(self, key: str, group: str, contexts: Mapping[str, Any]) -> bool:
        """Wait for older jobs of `group` (in any run); False if this job ended meanwhile."""
        job = self.state.jobs[key]
        self._transition(key, S.PENDING)
        self.recorder.job(
            key,
            status=S.PENDING,
            concurrency_group=group,
            waiting_for=f"concurrency group '{group}'",
        )
        self.recorder.flush()
        cancel = self._cancel_event(key)
        if job.shared_group == "inside":  # its call holds the group: counted, not waiting
            return self._stopped(key) if cancel.is_set() else True
        superseded = await wait_job_turn(
            self.store,
            group,
            job_pk=self.store.runs.job_pk(self.run_id, key),
            number=self.number,
            cancel_older=enabled(job.planned.concurrency_cancel_in_progress, contexts),
            cancel=cancel,
            own_run=self.run_id if job.shared_group else None,
        )
        if superseded is not None:
            self._complete(key, C.CANCELLED, superseded)
            return False
        return self._stopped(key) if cancel.is_set() else True

    def _stopped(self, key: str) -> bool:
        """`key` was asked to stop while it held: it completes cancelled; False."""
        job = self.state.jobs[key]
        self._complete(key, C.CANCELLED, job.cancel_reason or "cancelled")
        return False

    # -- heartbeat, end ----------------------------------------------------------------

    def _beat(self) -> None:
        if self._done.is_set():
            return
        self.recording.flush()
        try:
            controls = self.store.runs.heartbeat(self.run_id)
        except StagelineError:
            log.exception("heartbeat failed")
        else:
            if controls.cancel_run:
                self.cancel(controls.cancel_run)
            for key, reason in controls.cancel_jobs.items():
                self._follow(self.state.cancel_job(key, reason))
        self._heartbeat = asyncio.get_running_loop().call_later(HEARTBEAT_S, self._beat)

    def _finish(self) -> RunOutcome:
        conclusion, reason = self.state.conclude()
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
        self.layout.cleanup()
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

    def _emit(self, event: ev.EngineEvent) -> None:
        self.recording.emit(event)
