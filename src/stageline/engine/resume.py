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
* a deferred matrix is expanded again and all its legs run.

The run's state is rebuilt from its record (`RunState.from_record`, which replays
the kept completions through the same rules as a fresh run) and the ordinary
`Scheduler` runs on from it: the only code that knows about resuming is here and
in `from_record`.
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
from stageline.runs.states import ACTIVE_STATUSES
from stageline.store.db import Store


def resumed_state(store: Store, spec: RunSpec, run_id: int) -> RunState:
    """The state of run `run_id` from its record, as its next attempt; the record of
    every job that runs again is reset and the run is claimed by this process."""
    plan = spec.plan
    detail = store.runs.get_run(run_id)
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
    planned = {job.key for job in plan.jobs}
    store.runs.reset_unfinished(run_id, set(state.kept), planned)
    store.runs.mark_run_resumed(run_id, attempt)
    return state


def resumable(store: Store, run_id: int) -> None:
    """Raise RunError unless run `run_id` can be resumed (active, its process gone)."""
    detail = store.runs.get_run(run_id)
    run = detail.run
    if run.status not in ACTIVE_STATUSES:
        raise RunError(
            f"run {run_id} has ended ({run.conclusion}); nothing to resume",
            hint=f"start a new one: stageline run {run.workflow_path}",
        )
    if store.runs.run_alive(run_id):
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
    handle_signals: bool = True,
) -> Execution:
    """Continue run `run_id` to its end here, through the loop new runs take
    (`engine.execute.run_all`: Ctrl-C/SIGTERM, the executor's start and close)."""
    scheduler = Scheduler(
        store,
        executor,
        spec,
        observer=observer,
        slots=Slots(parallel),
        gatekeeper=gatekeeper,
        after_job=after_job,
        state=resumed_state(store, spec, run_id),
    )
    return await run_all([scheduler], handle_signals=handle_signals)


__all__ = ["resumable", "resume_run", "resumed_state"]
