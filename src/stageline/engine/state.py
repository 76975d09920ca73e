"""What a run knows about its jobs, as plain data: no asyncio, no store.

`RunState` holds every job's status, conclusion and effective result, the legs of
each job id, how many needs each job still waits for, who depends on whom, the
ancestry its `if:` sees, the merged outputs and results per job id, the jobs that
wait for a slot or execute, and the run's status. Its methods apply one change and
say what follows (`Effects`): which jobs became ready, which must stop, which end
at once without running. `runs.rules` states the rules they apply; the scheduler
records each change and dispatches jobs.

A job of a called workflow (`PlannedJob.call`) is ordinary here but for three things
(`engine.calls`): the caller's id is registered as a job id whose legs are the called
jobs (so `needs: [caller]` waits for them all and `results[caller]` aggregates them);
the call's scope (caller's `if:`, typed `with:`, `secrets:`, the callee's `env`) is
evaluated when its first job is ready; and its outputs when its last is done.

A resumed run is built by `RunState.from_record`: it replays the recorded
completions through the same `ready` and `complete` as a fresh run (its `if:`,
its `continue-on-error` expression, its ancestry), so a resumed run ends as the
same run never interrupted would.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stageline.engine.calls import CallScope, call_outputs, local_needs, open_call, scoped_needs
from stageline.engine.context import evaluate_if, evaluate_value, needs_context, truthy
from stageline.errors import StagelineError
from stageline.plan.model import Plan, PlannedCall, PlannedEnvironment, PlannedJob
from stageline.runs.rules import (
    Completion,
    ConcludeRun,
    Readying,
    aggregate_result,
    decide_completion,
    decide_ready,
    job_transition,
    run_transition,
)
from stageline.runs.states import Conclusion, Status
from stageline.store.records import JobRecord, RunDetail

C = Conclusion
S = Status

#: A job to complete at once, without running: (key, conclusion, reason).
Ending = tuple[str, Conclusion, str | None]


class Effects:
    """What follows one change of a `RunState`, for the scheduler to carry out.

    (A plain class, not a dataclass: creating a dataclass costs start-up time.)"""

    __slots__ = (
        "admitted",
        "end",
        "environments",
        "legs",
        "ready",
        "reason",
        "replaced",
        "run_status",
        "stop",
    )

    def __init__(self, reason: str | None = None) -> None:
        #: Jobs whose needs are now all done: call `RunState.ready` on each.
        self.ready: list[str] = []
        #: Jobs asked to stop (their executor or holding phase must see it).
        self.stop: list[str] = []
        #: Jobs to complete now, unstarted.
        self.end: list[Ending] = []
        #: Jobs admitted to run (contexts evaluated): hold or queue them.
        self.admitted: list[str] = []
        #: A deferred matrix's legs, replacing the job `replaced`.
        self.legs: list[PlannedJob] = []
        self.replaced: str | None = None
        #: The reason a completion is recorded with (a rule may supply one).
        self.reason = reason
        #: The run's new status when this change moved it.
        self.run_status: Status | None = None
        #: Admitted jobs whose `environment:` name was an expression, now evaluated.
        self.environments: list[str] = []


class JobState:
    """One planned job (or matrix leg)."""

    __slots__ = (
        "cancel_reason",
        "conclusion",
        "contexts",
        "continue_on_error",
        "executing",
        "planned",
        "result",
        "secrets",
        "shared_group",
        "started_at",
        "status",
        "waiting_for",
    )

    def __init__(self, planned: PlannedJob) -> None:
        self.planned = planned
        self.status: Status = S.QUEUED
        self.conclusion: Conclusion | None = None
        #: How the job counts for its dependents and the run (continue-on-error).
        self.result: Conclusion | None = None
        #: Set once the job is asked to stop; the first reason is the one recorded.
        self.cancel_reason: str | None = None
        self.executing = False
        self.continue_on_error = False
        self.started_at = 0.0
        #: The contexts it runs with, once admitted (None again once completed).
        self.contexts: dict[str, Any] | None = None
        self.waiting_for: str | None = None
        #: The secrets of a called job (its call's `secrets:`); None: the run's.
        self.secrets: dict[str, str] | None = None
        #: Its concurrency group is its caller's: "first" for a job that starts the call
        #: (it waits for other runs only), "inside" for a later one (the call holds the
        #: group already: it does not wait); None for a group of its own, or none.
        self.shared_group: str | None = None


class RunState:
    """The state of one run of `plan` (see module doc)."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: int,
        number: int,
        contexts: Mapping[str, Any],
        github: Mapping[str, Any],
        matrix_filter: Mapping[str, list[str]] | None = None,
        attempt: int = 1,
        secrets: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.plan = plan
        #: The run's secrets and `--env`, for the scopes of reusable-workflow calls.
        self.secrets = dict(secrets or {})
        self.extra_env = dict(extra_env or {})
        #: Each call's scope by its key, and how many of its jobs are unfinished.
        self.calls: dict[str, CallScope] = {}
        self.calls_left: dict[str, int] = {}
        #: Per caller id, its legs with executing jobs and how many (`max-parallel`).
        self.calls_running: dict[str, dict[str, int]] = {}
        #: The run's attempt (`github.run_attempt`): each resume is the next one, so an
        #: executor told a job again sees a new attempt, never the same job twice.
        self.attempt = attempt
        self.run_id = run_id
        self.number = number
        self.contexts = dict(contexts)
        self.github = dict(github)
        self.matrix_filter = matrix_filter
        self.jobs: dict[str, JobState] = {}
        self.legs: dict[str, list[str]] = {}
        self.legs_left: dict[str, int] = {}
        self.dependents: dict[str, list[str]] = {}
        self.needs_left: dict[str, int] = {}
        self.outputs: dict[str, dict[str, str]] = {}
        self.results: dict[str, Conclusion] = {}
        self.ancestry: dict[str, tuple[bool, bool]] = {}
        self.runnable: deque[str] = deque()
        self.executing: dict[str, int] = {}
        self.executing_total = 0
        self.unfinished = 0
        self.waiting = 0
        self.run_status: Status = S.QUEUED
        self.cancelled: str | None = None
        #: Recorded completions a resume kept (see `from_record`).
        self.kept: set[str] = set()
        self._pending = Effects()
        for job in plan.jobs:
            self._add(job)
        self.unrunnable = unrunnable(plan.jobs)
        for job in plan.jobs:
            needed = (
                {n for n in job.needs if n in self.legs}
                if job.job_id not in self.unrunnable
                else set()
            )
            self.needs_left[job.key] = len(needed)
            for job_id in needed:
                self.dependents.setdefault(job_id, []).append(job.key)

    @classmethod
    def from_record(
        cls,
        plan: Plan,
        run: RunDetail,
        *,
        contexts: Mapping[str, Any],
        github: Mapping[str, Any],
        matrix_filter: Mapping[str, list[str]] | None = None,
        attempt: int = 1,
        secrets: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> RunState:
        """The state of recorded run `run` (its plan and job rows), to resume it.

        A completed job (not cancelled: that one runs again) is kept when its needs
        were kept: it is made ready and completed with its recorded conclusion and
        outputs through `ready` and `complete`, as in a fresh run. Every other job
        runs again. What the replay decides for jobs still to run (a fail-fast
        cancel) is returned by `start`.
        """
        state = cls(
            plan,
            run_id=run.run.id,
            number=run.run.number,
            contexts=contexts,
            github=github,
            matrix_filter=matrix_filter,
            attempt=attempt,
            secrets=secrets,
            extra_env=extra_env,
        )
        recorded: dict[str, JobRecord] = {
            j.key: j
            for j in run.jobs
            if j.status == S.COMPLETED
            and j.conclusion not in (None, C.CANCELLED)
            and j.key in state.jobs
        }
        todo = deque(k for k, n in state.needs_left.items() if n == 0)
        while todo:
            key = todo.popleft()
            record = recorded.get(key)
            if record is None or key not in state.jobs:
                continue
            state.ready(key, expand=False)  # its ancestry, contexts, continue-on-error
            conclusion = Conclusion(str(record.conclusion))
            if state.jobs[key].contexts is not None or conclusion is C.SUCCESS:
                state.transition(key, S.IN_PROGRESS)  # it was admitted and ran
            effects = state.complete(key, conclusion, record.reason, dict(record.outputs or {}))
            state.kept.add(key)
            todo.extend(effects.ready)
            state._pending.stop.extend(effects.stop)
            state._pending.end.extend(effects.end)
        return state

    def _add(self, job: PlannedJob) -> None:
        self.jobs[job.key] = JobState(job)
        self.legs.setdefault(job.job_id, []).append(job.key)
        self.legs_left[job.job_id] = self.legs_left.get(job.job_id, 0) + 1
        self.unfinished += 1
        for call in job.call.chain() if job.call is not None else ():
            self.legs.setdefault(call.job_id, []).append(job.key)
            self.legs_left[call.job_id] = self.legs_left.get(call.job_id, 0) + 1
            self.calls_left[call.key] = self.calls_left.get(call.key, 0) + 1

    def _remove(self, job: PlannedJob) -> None:
        del self.jobs[job.key]
        self.legs[job.job_id].remove(job.key)
        self.legs_left[job.job_id] -= 1
        self.unfinished -= 1
        for call in job.call.chain() if job.call is not None else ():
            self.legs[call.job_id].remove(job.key)
            self.legs_left[call.job_id] -= 1
            self.calls_left[call.key] -= 1

    # -- the run -----------------------------------------------------------------------

    def start(self) -> Effects:
        """The run starts: jobs that need nothing unfinished are ready."""
        effects, self._pending = self._pending, Effects()
        effects.ready = [
            key
            for key, left in self.needs_left.items()
            if left == 0 and key in self.jobs and self.jobs[key].status is S.QUEUED
        ]
        return effects

    @property
    def done(self) -> bool:
        return self.unfinished == 0

    def set_run_status(self, target: Status) -> None:
        run_transition(self.run_status, target)
        self.run_status = target

    def refresh_run_status(self) -> Status | None:
        """The run waits when a job waits and none executes; the new status if it moved."""
        if self.run_status in (S.QUEUED, S.PENDING, S.COMPLETED):
            return None
        target = S.WAITING if self.waiting and not self.executing_total else S.IN_PROGRESS
        if target is self.run_status:
            return None
        self.set_run_status(target)
        return target

    def run_waiting_for(self) -> str:
        """The run's `waiting_for`: what its first waiting job waits for."""
        return next(
            (
                f"{j.planned.name}: {j.waiting_for}"
                for j in self.jobs.values()
                if j.status is S.WAITING
            ),
            "",
        )

    def conclude(self) -> tuple[Conclusion, str | None]:
        """The run's conclusion and reason (`ConcludeRun`), its status now completed."""
        results = [j.result for j in self.jobs.values() if j.result is not None]
        conclusion = ConcludeRun.then(results, self.cancelled is not None)
        reason = self.cancelled
        if reason is None and conclusion is C.FAILURE:
            failed = [j.planned.name for j in self.jobs.values() if j.result is C.FAILURE]
            reason = "failed: " + ", ".join(failed)
        run_transition(self.run_status, S.COMPLETED, conclusion)
        self.run_status = S.COMPLETED
        return conclusion, reason

    def cancel(self, reason: str) -> Effects:
        """Cancel the run: every unfinished job stops; unstarted ones end now."""
        self.cancelled = self.cancelled or reason
        effects = Effects()
        for key, job in self.jobs.items():
            if job.status is S.COMPLETED:
                continue
            self.stop(key, reason)
            effects.stop.append(key)
            if job.executing:
                continue
            if key in self.runnable:
                self.runnable.remove(key)
                effects.end.append((key, C.CANCELLED, reason))
            elif job.status is S.QUEUED and job.contexts is None:
                effects.end.append((key, C.CANCELLED, reason))
        return effects

    def cancel_job(self, key: str, reason: str) -> Effects:
        """Another process asked `key` to stop."""
        effects = Effects()
        job = self.jobs.get(key)
        if job is None or job.status is S.COMPLETED:
            return effects
        self.stop(key, reason)
        effects.stop.append(key)
        if not job.executing and key in self.runnable:
            self.runnable.remove(key)
            effects.end.append((key, C.CANCELLED, reason))
        return effects

    def stop(self, key: str, reason: str) -> None:
        job = self.jobs[key]
        job.cancel_reason = job.cancel_reason or reason

    # -- a job -------------------------------------------------------------------------

    def base_contexts(self, job: PlannedJob) -> dict[str, Any]:
        contexts = dict(self.contexts)
        call = job.call
        job_id = job.job_id if call is None else job.job_id.removeprefix(call.prefix)
        contexts["github"] = {**self.github, "job": job_id}  # GitHub's GITHUB_JOB
        if call is None:
            contexts["needs"] = needs_context(job.needs, self.results, self.outputs)
            return contexts
        own = local_needs(job.needs, call.prefix)
        contexts["needs"] = scoped_needs(own, call.prefix, self.results, self.outputs)
        scope = self.calls.get(call.key)
        if scope is not None:
            contexts["inputs"] = scope.inputs
            contexts["env"] = scope.env
        return contexts

    def _needs_of(self, job: PlannedJob) -> list[str]:
        """The needs whose results a job's `if:` sees: a called job's own, in its callee."""
        return job.needs if job.call is None else local_needs(job.needs, job.call.prefix)

    def _open(self, call: PlannedCall) -> CallScope:
        """The scope of `call`, evaluated the first time one of its jobs is ready."""
        scope = self.calls.get(call.key)
        if scope is not None:
            return scope
        parent = call.parent
        outer = dict(self.contexts)
        outer["github"] = dict(self.github)
        secrets = self.secrets
        if parent is not None:
            above = self._open(parent)
            if above.end is not None:
                scope = self.calls[call.key] = CallScope()
                scope.end = (C.SKIPPED, None) if above.end[0] is C.FAILURE else above.end
                return scope
            outer["inputs"], outer["env"], secrets = above.inputs, above.env, above.secrets
        prefix = parent.prefix if parent is not None else ""
        outer["needs"] = scoped_needs(call.needs, prefix, self.results, self.outputs)
        needs = [
            (self.results.get(n, C.SKIPPED), self.ancestry.get(n, (True, False)))
            for n in call.needs
        ]
        scope = open_call(call, outer, secrets, self.extra_env, needs, self.cancelled)
        self.calls[call.key] = scope
        if scope.end is None or scope.end[0] is not C.CANCELLED:
            self.ancestry[call.job_id] = scope.ancestry
        return scope

    def _call_end(self, job: PlannedJob) -> tuple[Conclusion, str | None] | None:
        """Why a called job must not run: a call of its chain that does not (the job
        at the start of that call ends as the call did; the others are skipped)."""
        call = job.call
        if call is None:
            return None
        first = not local_needs(job.needs, call.prefix)
        for frame in reversed(call.chain()):
            scope = self._open(frame)
            if scope.end is not None:
                return scope.end if first else (C.SKIPPED, None)
        return None

    def ready(self, key: str, *, expand: bool = True) -> Effects:
        """All needs of `key` are done: decide whether it runs (`READY_POLICY`)."""
        effects = Effects()
        job = self.jobs[key]
        if job.status is not S.QUEUED or job.contexts is not None:
            return effects
        planned = job.planned
        ended = self._call_end(planned)
        if ended is not None:
            effects.end.append((key, *ended))
            return effects
        contexts = self.base_contexts(planned)
        decided = decide_ready(
            Readying(
                needs=[
                    (self.results.get(n, C.SKIPPED), self.ancestry.get(n, (True, False)))
                    for n in self._needs_of(planned)
                ],
                run_cancelled=self.cancelled,
                unrunnable=self.unrunnable.get(planned.job_id),
                evaluate_if=lambda status: evaluate_if(planned.if_, contexts, status),
            )
        )
        if decided.run_cancelled is None and decided.unrunnable is None:
            self.ancestry[planned.job_id] = decided.ancestry
        if decided.end is not None:
            effects.end.append((key, *decided.end))
            return effects
        if planned.deferred_matrix is not None and expand:
            self._expand(key, contexts, effects)
            return effects
        self._admit(key, contexts, effects)
        return effects

    def _expand(self, key: str, contexts: dict[str, Any], effects: Effects) -> None:
        from stageline.plan.compile import expand_deferred

        placeholder = self.jobs[key].planned
        try:
            legs = expand_deferred(placeholder, contexts, matrix_filter=self.matrix_filter)
        except StagelineError as err:
            effects.end.append((key, C.FAILURE, f"matrix: {err.message}"))
            return
        self._remove(placeholder)
        for leg in legs:
            self._add(leg)
        effects.legs = legs
        effects.replaced = key
        for leg in legs:
            self._admit(leg.key, contexts, effects)

    def _admit(self, key: str, contexts: dict[str, Any], effects: Effects) -> None:
        """The job will run: its contexts and `continue-on-error` are evaluated."""
        job = self.jobs[key]
        planned = job.planned
        contexts = dict(contexts)
        contexts["matrix"] = dict(planned.matrix or {})
        contexts["strategy"] = {
            "fail-fast": planned.fail_fast,
            "job-index": planned.strategy_index,
            "job-total": planned.strategy_total,
            "max-parallel": planned.max_parallel or planned.strategy_total,
        }
        job.contexts = contexts
        try:
            job.continue_on_error = truthy(evaluate_value(planned.continue_on_error, contexts))
        except StagelineError as err:
            effects.end.append((key, C.FAILURE, f"continue-on-error: {err.message}"))
            return
        environment = planned.environment
        if environment is not None and "${{" in environment.name:
            try:
                name = str(evaluate_value(environment.name, contexts))
            except StagelineError as err:
                effects.end.append((key, C.FAILURE, f"environment: {err.message}"))
                return
            job.planned = planned = dataclasses.replace(
                planned, environment=PlannedEnvironment(name, environment.url)
            )
            effects.environments.append(key)
        if planned.call is not None:
            job.secrets = self.calls[planned.call.key].secrets
            if not planned.concurrency_group:
                self._join_callers_group(job)
        effects.admitted.append(key)

    def _join_callers_group(self, job: JobState) -> None:
        """A called job without its own `concurrency` joins its nearest caller's."""
        assert job.planned.call is not None
        first = True
        for call in job.planned.call.chain():
            first = first and not local_needs(job.planned.needs, call.prefix)
            scope = self.calls.get(call.key)
            if scope is not None and scope.group:
                job.planned = dataclasses.replace(
                    job.planned,
                    concurrency_group=scope.group,
                    concurrency_cancel_in_progress=scope.cancel_in_progress,
                )
                job.shared_group = "first" if first else "inside"
                return

    def transition(
        self, key: str, target: Status, conclusion: Conclusion | None = None
    ) -> Status | None:
        """Move job `key` to `target` (checked by `runs.rules`); the run's new status
        when that moved it."""
        job = self.jobs[key]
        job_transition(job.status, target, conclusion)
        if job.status is S.WAITING:
            self.waiting -= 1
            job.waiting_for = None
        if target is S.WAITING:
            self.waiting += 1
        job.status = target
        return self.refresh_run_status()

    def complete(
        self,
        key: str,
        conclusion: Conclusion,
        reason: str | None = None,
        outputs: Mapping[str, str] | None = None,
    ) -> Effects:
        """Job `key` completed (`COMPLETION_POLICY`): what follows, with the reason to
        record and the jobs that are now ready."""
        job = self.jobs[key]
        planned = job.planned
        done = decide_completion(
            Completion(
                source=job.status,
                conclusion=conclusion,
                reason=reason,
                continue_on_error=job.continue_on_error,
                legs=planned.strategy_total,
                fail_fast=lambda: self._fail_fast_enabled(job),
            )
        )
        effects = Effects(reason=done.reason)
        effects.run_status = self.transition(key, S.COMPLETED, conclusion)
        job.conclusion = conclusion
        job.result = done.result
        merged = self.outputs.setdefault(planned.job_id, {})
        outs = outputs or {}
        merged.update({k: v for k, v in outs.items() if v not in ("", None)})
        for name in outs:
            merged.setdefault(name, "")
        self.unfinished -= 1
        self.legs_left[planned.job_id] -= 1
        if done.cancel_siblings:
            self._fail_fast(job, effects)
        if done.result is C.FAILURE and planned.call is not None:
            self._fail_fast_calls(job, planned.call, effects)
        job.contexts = None  # a finished job's contexts are not needed again
        if self.legs_left[planned.job_id] == 0:
            self._job_id_done(planned.job_id, effects)
        for call in planned.call.chain() if planned.call is not None else ():
            self._call_job_done(call, effects)
        return effects

    def _call_job_done(self, call: PlannedCall, effects: Effects) -> None:
        """One job of `call` is done: the last gives the call's outputs, and the last of
        every leg of the caller completes the caller's job id."""
        self.calls_left[call.key] -= 1
        self.legs_left[call.job_id] -= 1
        if self.calls_left[call.key] == 0:
            scope = self.calls.get(call.key)
            if scope is not None and scope.end is None:
                contexts = {**self.contexts, "github": dict(self.github)}
                found = call_outputs(call, scope, contexts, self.results, self.outputs)
                merged = self.outputs.setdefault(call.job_id, {})
                merged.update({k: v for k, v in found.items() if v})
                for name in found:
                    merged.setdefault(name, "")
        if self.legs_left[call.job_id] == 0:
            self._job_id_done(call.job_id, effects)

    def _job_id_done(self, job_id: str, effects: Effects) -> None:
        results = [self.jobs[k].result or C.SKIPPED for k in self.legs.get(job_id, [])]
        self.results[job_id] = aggregate_result(results)
        for dependent in self.dependents.get(job_id, []):
            if dependent not in self.needs_left:
                continue
            self.needs_left[dependent] -= 1
            if self.needs_left[dependent] == 0 and dependent in self.jobs:
                effects.ready.append(dependent)

    @staticmethod
    def _fail_fast_enabled(job: JobState) -> bool:
        try:
            return truthy(evaluate_value(job.planned.fail_fast, job.contexts or {}))
        except StagelineError:
            return True

    def _fail_fast_calls(self, failed: JobState, call: PlannedCall, effects: Effects) -> None:
        """A failed job of one leg of a matrix of calls stops the other legs' jobs
        (the calling job's `fail-fast`, default true)."""
        for frame in call.chain():
            if frame.strategy_total < 2:
                continue
            try:
                enabled = truthy(evaluate_value(frame.fail_fast, failed.contexts or {}))
            except StagelineError:
                enabled = True
            if enabled:
                others = [k for k in self.legs[frame.job_id] if not k.startswith(frame.prefix)]
                self._stop_all(failed, others, effects)

    def _fail_fast(self, failed: JobState, effects: Effects) -> None:
        self._stop_all(failed, list(self.legs.get(failed.planned.job_id, [])), effects)

    def _stop_all(self, failed: JobState, keys: list[str], effects: Effects) -> None:
        planned = failed.planned
        reason = f"fail-fast: {planned.name} failed"
        for key in keys:
            sibling = self.jobs[key]
            if sibling is failed or sibling.status is S.COMPLETED:
                continue
            self.stop(key, reason)
            effects.stop.append(key)
            if sibling.executing:
                continue  # the executor stops and reports it cancelled
            if key in self.runnable:
                self.runnable.remove(key)
                effects.end.append((key, C.CANCELLED, reason))
            elif sibling.contexts is None:
                effects.end.append((key, C.CANCELLED, reason))
            # else: in its holding phase, which sees the stop and completes it

    def wait(self, key: str, waiting_for: str) -> Status | None:
        """A hook holds `key` for `waiting_for`; the run's new status if it moved."""
        job = self.jobs[key]
        job.waiting_for = waiting_for
        if job.status is not S.WAITING:
            return self.transition(key, S.WAITING)
        return None

    # -- slots -------------------------------------------------------------------------

    def queue(self, key: str) -> None:
        """`key` waits for a slot."""
        self.runnable.append(key)

    def _max_parallel(self, job: JobState) -> int | None:
        value = job.planned.max_parallel
        if value is None:
            return None
        try:
            return max(1, int(evaluate_value(value, job.contexts or {})))
        except (StagelineError, TypeError, ValueError):
            return None

    def dispatch(self, take: Callable[[], bool]) -> list[str]:
        """The queued jobs that start now, in the order they were queued: each within
        its matrix's `max-parallel` and holding a slot `take()` gave."""
        if not self.runnable:
            return []
        started: list[str] = []
        blocked: deque[str] = deque()
        while self.runnable:
            key = self.runnable.popleft()
            job = self.jobs[key]
            job_id = job.planned.job_id
            limit = self._max_parallel(job)
            if limit is not None and self.executing.get(job_id, 0) >= limit:
                blocked.append(key)
                continue
            if job.planned.call is not None and not self._call_room(job):
                blocked.append(key)
                continue
            if not take():
                blocked.append(key)
                blocked.extend(self.runnable)
                self.runnable.clear()
                break
            self.executing[job_id] = self.executing.get(job_id, 0) + 1
            self.executing_total += 1
            job.executing = True
            self._count_call(job, 1)
            started.append(key)
        self.runnable = blocked
        return started

    def release(self, key: str) -> None:
        """`key`'s executor returned: its slot is free."""
        job = self.jobs[key]
        job.executing = False
        self.executing[job.planned.job_id] -= 1
        self.executing_total -= 1
        self._count_call(job, -1)

    def _call_room(self, job: JobState) -> bool:
        """Whether a called job may start within its caller's `max-parallel`: at most
        that many legs of a matrix of calls execute jobs at once."""
        assert job.planned.call is not None
        for call in job.planned.call.chain():
            if call.max_parallel is None:
                continue
            active = self.calls_running.get(call.job_id, {})
            if call.key in active:
                continue
            try:
                limit = max(1, int(evaluate_value(call.max_parallel, job.contexts or {})))
            except (StagelineError, TypeError, ValueError):
                continue
            if len(active) >= limit:
                return False
        return True

    def _count_call(self, job: JobState, step: int) -> None:
        for call in job.planned.call.chain() if job.planned.call is not None else ():
            active = self.calls_running.setdefault(call.job_id, {})
            active[call.key] = active.get(call.key, 0) + step
            if not active[call.key]:
                del active[call.key]


def unrunnable(jobs: Iterable[PlannedJob]) -> dict[str, str]:
    """Job ids that can never become ready (validation rejects these plans; a
    hand-built one must fail clearly rather than wait forever), with why."""
    needs: dict[str, set[str]] = {}
    for job in jobs:
        needs.setdefault(job.job_id, set()).update(job.needs)
        for call in job.call.chain() if job.call is not None else ():
            needs.setdefault(call.job_id, set()).add(job.job_id)  # done when its jobs are
    known = set(needs)  # `wanted - needs.keys()` would build this set once per job
    broken = {
        job_id: f"needs unknown job(s): {', '.join(sorted(wanted - known))}"
        for job_id, wanted in needs.items()
        if not wanted <= known
    }
    left = {j: len(wanted & known) for j, wanted in needs.items()}
    users: dict[str, list[str]] = {}
    for job_id, wanted in needs.items():
        for need in wanted & known:
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
