"""Resuming a run whose process stopped while a gate (or a bake window) held it.

A run that waits at a gate outlives its process (`store.liveness.orphan_reason`
leaves waiting runs alone). `resume_run` continues it in this process, under the
same run id and number, from its recorded plan:

* jobs that completed keep their conclusion and outputs (they count for `needs`
  as before and do not run again);
* every other job runs again from its start: its half-written steps are forgotten;
  a job that was waiting at its gate re-enters the gate, which finds its request
  time and every decision recorded so far in the store; a deploy job that was in its
  bake window deploys again; one that was rolling back completes the rollback
  (`deploy.gatekeeper`);
* a deferred matrix is expanded again and all its legs run;
* a deployment the dead process left in progress in a step of its job is concluded
  (`store.liveness.interrupted`); the job deploys again under a new record. A job
  whose attempt goes on elsewhere (`adopted`: a worker's, after a server restart, ADR
  0012) keeps its deployment in progress: the job's result concludes it.

A run whose death was already detected (`store.liveness.reap`: the run, its unfinished
jobs and its deployment in progress were concluded with the reason) resumes the same
way: its jobs concluded "cancelled" by the reaper run again, and the run is put back
in progress as it is taken over, so it ends as an uninterrupted run would. This is the
`resume` half of the decision an interrupted deployment asks for (the other is
`stageline rollback`).

The run's state is rebuilt from its record (`RunState.from_record`, which replays
the kept completions through the same rules as a fresh run) and the ordinary
`Scheduler` runs on from it: the only code that knows about resuming is here and
in `from_record`.

Only one process owns a run at a time. Its pid, host and heartbeat in the run's row
are the lease; a resume takes it over by moving the run's attempt on by one, which
only one of several concurrent resumes can do (`RunStore.mark_run_resumed`); the
others refuse with "run N is being resumed by pid P".
"""

from __future__ import annotations

from stageline.engine import events as ev
from stageline.engine.context import github_context
from stageline.engine.execute import Execution, run_all
from stageline.engine.hooks import AfterJob, Gatekeeper
from stageline.engine.scheduler import RunSpec, Scheduler, Slots
from stageline.engine.state import RunState
from stageline.errors import RunError
from stageline.executors.base import Executor
from stageline.runs.states import ACTIVE_STATUSES, Status
from stageline.store import liveness
from stageline.store.db import Store
from stageline.store.records import RunRecord


def resumed_state(
    store: Store, spec: RunSpec, run_id: int, adopted: frozenset[str] = frozenset()
) -> RunState:
    """The state of run `run_id` from its record, as its next attempt; the run is
    claimed by this process (one lease: a concurrent resume gets RunError, see
    `owned`), then the record of every job that runs again is reset. The jobs in
    `adopted` (keys) are still running elsewhere: their deployments stay in progress."""
    plan = spec.plan
    detail = store.runs.get_run(run_id)
    owned(detail.run)  # read with the attempt the lease is taken over from (see below)
    attempt = detail.run.attempt + 1
    state = RunState.from_record(
        plan,
        detail,
        contexts=spec.contexts,
        github=github_context(
            plan, run_id=detail.run.id, run_number=detail.run.number, attempt=attempt
        ),
        matrix_filter=spec.matrix_filter,
        attempt=attempt,
        secrets=spec.secrets,
        extra_env=spec.extra_env,
    )
    reopen = liveness.reaped(detail.run.status, detail.run.reason)
    if not store.runs.mark_run_resumed(run_id, attempt, reopen=reopen):  # another was first
        owned(store.runs.get_run(run_id).run)
        raise RunError(f"run {run_id} was resumed by another process meanwhile")
    planned = {job.key for job in plan.jobs}
    store.runs.reset_unfinished(run_id, set(state.kept), planned)
    if detail.run.status != Status.WAITING and any(job.environment for job in plan.jobs):
        conclude_interrupted(store, detail.run, keep=adopted)
    return state


def conclude_interrupted(store: Store, run: RunRecord, keep: frozenset[str] = frozenset()) -> None:
    """Conclude the deployments `run`'s dead process left in progress mid-job (a run
    that waits, at a gate or in a bake window, left them on purpose), but those of the
    jobs in `keep`, which still run (their resumed job reuses the record)."""
    gone = liveness.gone_reason(run.pid, run.host, run.heartbeat_at)
    reason = liveness.interrupted(gone or f"the stageline process (pid {run.pid}) ended")
    for row in store.deployments.list_deployments(run.repo_path):
        mine = row.run_id == run.id and row.kind == "deploy" and row.job_key not in keep
        if mine and row.status == "in_progress":
            store.deployments.finish_deployment(row.id, "failure", reason)


def owned(run: RunRecord) -> None:
    """Raise RunError if a live process owns `run`: the one that started it, or a
    resume (its attempt is above 1) that holds the lease."""
    if not liveness.run_alive(run.status, run.pid, run.host, run.heartbeat_at):
        return
    if run.attempt > 1:
        raise RunError(
            f"run {run.id} is being resumed by pid {run.pid} on {run.host}",
            hint="wait for that process, or stop it and resume again",
        )
    raise RunError(
        f"run {run.id} is still running (pid {run.pid} on {run.host})",
        hint="decide its gate with `stageline approve/reject`, or stop that process first",
    )


def resumable(store: Store, run_id: int) -> None:
    """Raise RunError unless run `run_id` can be resumed: active with its process gone,
    or completed by the reaper when its process's death was detected."""
    detail = store.runs.get_run(run_id)
    run = detail.run
    if run.status not in ACTIVE_STATUSES and not liveness.reaped(run.status, run.reason):
        raise RunError(
            f"run {run_id} has ended ({run.conclusion}); nothing to resume",
            hint=f"start a new one: stageline run {run.workflow_path}",
        )
    owned(run)


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
    handle_signals: bool = True,
    adopted: frozenset[str] = frozenset(),
) -> Execution:
    """Continue run `run_id` to its end here, through the loop new runs take
    (`engine.execute.run_all`: Ctrl-C/SIGTERM, the executor's start and close);
    `adopted` as in `resumed_state`."""
    scheduler = Scheduler(
        store,
        executor,
        spec,
        observer=observer,
        slots=Slots(parallel),
        gatekeeper=gatekeeper,
        after_job=after_job,
        state=resumed_state(store, spec, run_id, adopted),
    )
    return await run_all([scheduler], handle_signals=handle_signals)


__all__ = ["conclude_interrupted", "owned", "resumable", "resume_run", "resumed_state"]
