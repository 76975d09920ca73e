"""`RunState` on its own: plain calls, no event loop, no store."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from stageline.engine.state import RunState
from stageline.plan.model import Plan
from stageline.runs.rules import InvalidTransition
from stageline.runs.states import Conclusion, Status
from stageline.store.records import JobRecord, RunDetail, RunRecord
from tests.engine.conftest import job, legs, plan

C, S = Conclusion, Status


def state_of(the_plan: Plan) -> RunState:
    return RunState(the_plan, run_id=1, number=1, contexts={}, github={"run_id": "1"})


def run(state: RunState, key: str) -> None:
    """Admit `key` and give it a slot, as the scheduler does for a job with no hold."""
    effects = state.ready(key)
    assert effects.admitted == [key] or key in effects.admitted
    state.queue(key)
    assert key in state.dispatch(lambda: True)
    state.transition(key, S.IN_PROGRESS)


def finish(state: RunState, key: str, conclusion: Conclusion, **kw: Any) -> list[str]:
    state.release(key)
    return state.complete(key, conclusion, **kw).ready


def test_jobs_that_need_nothing_are_ready_at_the_start() -> None:
    state = state_of(plan(job("a"), job("b"), job("c", ["a", "b"])))
    assert state.start().ready == ["a", "b"]
    assert state.needs_left["c"] == 2


def test_a_completion_makes_ready_what_needed_only_it() -> None:
    state = state_of(plan(job("a"), job("b"), job("c", ["a", "b"])))
    state.set_run_status(S.IN_PROGRESS)
    run(state, "a")
    run(state, "b")
    assert finish(state, "a", C.SUCCESS, outputs={"v": "1"}) == []
    assert finish(state, "b", C.SUCCESS) == ["c"]
    assert state.outputs["a"] == {"v": "1"}
    assert state.results == {"a": C.SUCCESS, "b": C.SUCCESS}
    assert state.unfinished == 1 and not state.done


def test_a_skip_propagates_past_an_always_job() -> None:
    state = state_of(plan(job("a", if_="false"), job("b", ["a"], if_="always()"), job("c", ["b"])))
    assert state.ready("a").end == [("a", C.SKIPPED, None)]
    assert state.complete("a", C.SKIPPED).ready == ["b"]
    run(state, "b")
    assert finish(state, "b", C.SUCCESS) == ["c"]
    assert state.ancestry["b"] == (False, False)  # succeeded itself, not its ancestry
    assert state.ready("c").end == [("c", C.SKIPPED, None)]


def test_a_continue_on_error_expression_is_evaluated() -> None:
    state = state_of(plan(job("a", continue_on_error="${{ 1 == 1 }}"), job("b", ["a"])))
    state.set_run_status(S.IN_PROGRESS)
    run(state, "a")
    effects = state.complete("a", C.FAILURE)
    assert effects.reason == "failed (continue-on-error: the run goes on)"
    assert (state.jobs["a"].conclusion, state.jobs["a"].result) == (C.FAILURE, C.SUCCESS)
    assert effects.ready == ["b"]
    assert state.ready("b").admitted == ["b"]


def test_an_invalid_continue_on_error_fails_the_job_before_it_runs() -> None:
    state = state_of(plan(job("a", continue_on_error="${{ nope( }}")))
    [(key, conclusion, reason)] = state.ready("a").end
    assert (key, conclusion) == ("a", C.FAILURE)
    assert reason is not None and reason.startswith("continue-on-error:")


def test_a_failed_leg_cancels_its_unstarted_siblings_and_stops_the_running_ones() -> None:
    state = state_of(plan(*legs("t", [{"n": 1}, {"n": 2}, {"n": 3}])))
    state.set_run_status(S.IN_PROGRESS)
    for key in ("t.1", "t.2", "t.3"):
        assert state.ready(key).admitted == [key]
        state.queue(key)
    assert state.dispatch(iter([True, True, False]).__next__) == ["t.1", "t.2"]
    state.transition("t.1", S.IN_PROGRESS)
    state.transition("t.2", S.IN_PROGRESS)
    state.release("t.1")
    effects = state.complete("t.1", C.FAILURE)
    assert effects.stop == ["t.2", "t.3"]
    assert effects.end == [("t.3", C.CANCELLED, "fail-fast: t (1) failed")]
    assert state.jobs["t.2"].cancel_reason == "fail-fast: t (1) failed"
    assert not state.runnable


def test_max_parallel_bounds_the_legs_dispatched() -> None:
    state = state_of(plan(*legs("t", [{"n": 1}, {"n": 2}, {"n": 3}], max_parallel=2)))
    for key in ("t.1", "t.2", "t.3"):
        state.ready(key)
        state.queue(key)
    assert state.dispatch(lambda: True) == ["t.1", "t.2"]
    assert list(state.runnable) == ["t.3"]
    state.release("t.1")
    assert state.dispatch(lambda: True) == ["t.3"]
    assert state.executing == {"t": 2} and state.executing_total == 2


def test_cancel_ends_what_has_not_started_and_stops_what_runs() -> None:
    state = state_of(plan(job("a"), job("b"), job("c", ["a"])))
    state.set_run_status(S.IN_PROGRESS)
    run(state, "a")
    state.ready("b")
    state.queue("b")
    effects = state.cancel("received SIGINT")
    assert effects.stop == ["a", "b", "c"]
    assert effects.end == [
        ("b", C.CANCELLED, "received SIGINT"),
        ("c", C.CANCELLED, "received SIGINT"),
    ]
    assert state.jobs["a"].cancel_reason == "received SIGINT"
    assert state.ready("c").end == [("c", C.CANCELLED, "received SIGINT")]


def test_a_waiting_job_makes_the_run_wait_only_while_nothing_executes() -> None:
    state = state_of(plan(job("gate"), job("other")))
    state.set_run_status(S.IN_PROGRESS)
    state.ready("gate")
    run(state, "other")
    assert state.wait("gate", "approval") is None  # `other` still executes
    state.release("other")
    assert state.complete("other", C.SUCCESS).run_status is S.WAITING
    assert state.run_status is S.WAITING
    assert state.run_waiting_for() == "gate: approval"


def test_the_run_concludes_from_effective_results() -> None:
    state = state_of(plan(job("a"), job("b")))
    state.set_run_status(S.IN_PROGRESS)
    run(state, "a")
    run(state, "b")
    finish(state, "a", C.SUCCESS)
    finish(state, "b", C.FAILURE)
    assert state.done
    assert state.conclude() == (C.FAILURE, "failed: b")
    assert state.run_status is S.COMPLETED


def test_an_impossible_change_is_refused() -> None:
    state = state_of(plan(job("a")))
    with pytest.raises(InvalidTransition):
        state.complete("a", C.SUCCESS)  # it never ran


def test_unknown_needs_and_cycles_fail_instead_of_waiting_forever() -> None:
    state = state_of(plan(job("a", ["ghost"]), job("b", ["c"]), job("c", ["b"])))
    assert sorted(state.start().ready) == ["a", "b", "c"]
    assert state.ready("a").end == [("a", C.FAILURE, "needs unknown job(s): ghost")]
    assert state.ready("b").end == [("b", C.FAILURE, "its needs form a cycle")]


# -- from the record -------------------------------------------------------------------


def record_of(the_plan: Plan, jobs: dict[str, tuple[str, str | None, dict[str, str]]]) -> RunDetail:
    """A recorded run: `jobs` maps keys to (status, conclusion, outputs)."""
    blank: dict[str, Any] = {f.name: None for f in fields(RunRecord)}
    run_row = RunRecord(**{**blank, "id": 7, "number": 3, "status": "waiting"})
    rows = []
    for planned in the_plan.jobs:
        status, conclusion, outputs = jobs.get(planned.key, ("queued", None, {}))
        values: dict[str, Any] = {f.name: None for f in fields(JobRecord) if f.name != "steps"}
        values.update(
            id=len(rows) + 1,
            key=planned.key,
            job_id=planned.job_id,
            name=planned.name,
            needs=planned.needs,
            status=status,
            conclusion=conclusion,
            outputs=outputs,
        )
        rows.append(JobRecord(**values))
    return RunDetail(run_row, rows, [], [])


def from_record(
    the_plan: Plan, jobs: dict[str, tuple[str, str | None, dict[str, str]]]
) -> RunState:
    return RunState.from_record(
        the_plan, record_of(the_plan, jobs), contexts={}, github={"run_id": "7"}
    )


def test_a_recorded_run_keeps_its_completed_jobs_and_readies_the_rest() -> None:
    the_plan = plan(job("a"), job("b", ["a"]), job("c", ["b"]))
    state = from_record(the_plan, {"a": ("completed", "success", {"v": "1"})})
    assert (state.run_id, state.number) == (7, 3)
    assert state.kept == {"a"}
    assert state.outputs == {"a": {"v": "1"}}
    assert state.start().ready == ["b"]
    assert state.unfinished == 2


def test_a_recorded_continue_on_error_failure_counts_as_success() -> None:
    the_plan = plan(job("a", continue_on_error="${{ true }}"), job("b", ["a"]))
    state = from_record(the_plan, {"a": ("completed", "failure", {})})
    assert state.results["a"] is C.SUCCESS
    assert state.ready("b").admitted == ["b"]


def test_a_recorded_skip_seeds_the_ancestry_of_its_dependents() -> None:
    the_plan = plan(job("a", if_="false"), job("b", ["a"], if_="always()"), job("c", ["b"]))
    state = from_record(
        the_plan, {"a": ("completed", "skipped", {}), "b": ("completed", "success", {})}
    )
    assert state.start().ready == ["c"]
    assert state.ready("c").end == [("c", C.SKIPPED, None)]


def test_a_recorded_cancel_runs_again_and_so_does_what_follows_it() -> None:
    the_plan = plan(job("a"), job("b", ["a"]))
    state = from_record(
        the_plan, {"a": ("completed", "cancelled", {}), "b": ("completed", "skipped", {})}
    )
    assert state.kept == set()
    assert state.start().ready == ["a"]


def test_a_recorded_failed_leg_cancels_its_unfinished_siblings_at_the_start() -> None:
    the_plan = plan(*legs("t", [{"n": 1}, {"n": 2}]))
    state = from_record(the_plan, {"t.1": ("completed", "failure", {})})
    effects = state.start()
    assert effects.end == [("t.2", C.CANCELLED, "fail-fast: t (1) failed")]
