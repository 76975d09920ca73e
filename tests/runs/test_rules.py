"""One test per allowed transition, plus the ones that must be refused."""

from __future__ import annotations

import pytest

from stageline.errors import StagelineError
from stageline.runs.rules import (
    COMPLETION_POLICY,
    JOB_RULES,
    READY_POLICY,
    RUN_RULES,
    CancelOnceRunIsCancelled,
    Completion,
    ConcludeRun,
    CountContinueOnErrorAsSuccess,
    FailFastCancelsUnfinishedLegs,
    FailWhenNeedsCannotBeMet,
    InheritAncestry,
    InvalidTransition,
    Readying,
    SkipWhenIfIsFalse,
    aggregate_result,
    decide_completion,
    decide_ready,
    job_status,
    job_transition,
    run_conclusion,
    run_transition,
)
from stageline.runs.states import Conclusion, Status

S, C = Status, Conclusion


def test_a_planned_job_is_queued() -> None:
    assert job_transition(None, S.QUEUED).name == "QueuePlannedJob"


def test_a_queued_job_waits_for_its_concurrency_group() -> None:
    assert job_transition(S.QUEUED, S.PENDING).name == "HoldForConcurrencyGroup"


@pytest.mark.parametrize("source", [S.QUEUED, S.PENDING])
def test_a_gate_holds_a_job_before_it_starts(source: Status) -> None:
    assert job_transition(source, S.WAITING).name == "HoldAtGate"


@pytest.mark.parametrize("source", [S.QUEUED, S.PENDING, S.WAITING])
def test_a_ready_job_starts(source: Status) -> None:
    assert job_transition(source, S.IN_PROGRESS).name == "StartReadyJob"


def test_a_finished_deploy_is_held_for_its_bake_window() -> None:
    assert job_transition(S.IN_PROGRESS, S.WAITING).name == "HoldForBakeWindow"


@pytest.mark.parametrize("conclusion", [C.SUCCESS, C.FAILURE, C.CANCELLED])
def test_a_running_job_completes(conclusion: Conclusion) -> None:
    assert job_transition(S.IN_PROGRESS, S.COMPLETED, conclusion).name == "CompleteRunningJob"


@pytest.mark.parametrize("conclusion", [C.SUCCESS, C.FAILURE, C.CANCELLED])
def test_a_waiting_job_completes(conclusion: Conclusion) -> None:
    assert job_transition(S.WAITING, S.COMPLETED, conclusion).name == "CompleteWaitingJob"


def test_a_queued_job_is_skipped() -> None:
    assert job_transition(S.QUEUED, S.COMPLETED, C.SKIPPED).name == "SkipUnstartedJob"


@pytest.mark.parametrize("source", [S.QUEUED, S.PENDING])
def test_an_unstarted_job_is_cancelled(source: Status) -> None:
    assert job_transition(source, S.COMPLETED, C.CANCELLED).name == "CancelUnstartedJob"


@pytest.mark.parametrize("source", [S.QUEUED, S.PENDING])
def test_an_unstarted_job_fails(source: Status) -> None:
    assert job_transition(source, S.COMPLETED, C.FAILURE).name == "FailUnstartedJob"


@pytest.mark.parametrize(
    ("source", "target", "conclusion"),
    [
        (S.COMPLETED, S.IN_PROGRESS, None),  # a finished job never runs again
        (S.COMPLETED, S.COMPLETED, C.SUCCESS),
        (S.IN_PROGRESS, S.COMPLETED, C.SKIPPED),  # a started job cannot be skipped
        (S.QUEUED, S.COMPLETED, C.SUCCESS),  # success needs a run
        (S.IN_PROGRESS, S.QUEUED, None),
        (S.IN_PROGRESS, S.COMPLETED, None),  # completed needs a conclusion
    ],
)
def test_impossible_job_transitions_are_refused(
    source: Status, target: Status, conclusion: Conclusion | None
) -> None:
    with pytest.raises(InvalidTransition):
        job_transition(source, target, conclusion)


def test_run_transitions() -> None:
    assert run_transition(None, S.QUEUED).name == "QueueRun"
    assert run_transition(S.QUEUED, S.PENDING).name == "HoldRunForConcurrencyGroup"
    assert run_transition(S.PENDING, S.IN_PROGRESS).name == "StartRun"
    assert run_transition(S.IN_PROGRESS, S.WAITING).name == "HoldRunAtGate"
    assert run_transition(S.WAITING, S.IN_PROGRESS).name == "StartRun"
    assert run_transition(S.WAITING, S.COMPLETED, C.CANCELLED).name == "CompleteRun"
    with pytest.raises(InvalidTransition):
        run_transition(S.COMPLETED, S.IN_PROGRESS)
    with pytest.raises(InvalidTransition):
        run_transition(S.IN_PROGRESS, S.COMPLETED, C.SKIPPED)  # a run is never skipped


def test_rule_names_are_unique() -> None:
    names = [r.name for r in JOB_RULES + RUN_RULES]
    assert len(names) == len(set(names))


def test_matrix_legs_aggregate_into_one_result() -> None:
    assert aggregate_result([C.SUCCESS, C.FAILURE, C.CANCELLED]) is C.FAILURE
    assert aggregate_result([C.SUCCESS, C.CANCELLED]) is C.CANCELLED
    assert aggregate_result([C.SKIPPED, C.SKIPPED]) is C.SKIPPED
    assert aggregate_result([C.SUCCESS, C.SKIPPED]) is C.SUCCESS


def test_run_conclusion() -> None:
    assert run_conclusion([C.SUCCESS, C.SKIPPED], cancelled=False) is C.SUCCESS
    assert run_conclusion([C.SUCCESS, C.FAILURE], cancelled=False) is C.FAILURE
    assert run_conclusion([C.FAILURE], cancelled=True) is C.CANCELLED


def test_job_status_for_if_conditions() -> None:
    assert job_status(True, False, False) == "success"
    assert job_status(False, True, False) == "failure"
    assert job_status(False, False, False) == "failure"  # a skipped ancestor
    assert job_status(True, False, True) == "cancelled"


# -- what follows a transition: one rule, one transition each ----------------------------

OK = (True, False)


def test_a_cancelled_run_cancels_a_ready_job_even_with_always() -> None:
    job = Readying(needs=[], run_cancelled="received SIGINT", evaluate_if=lambda s: True)
    CancelOnceRunIsCancelled.then(job)
    assert job.end == (C.CANCELLED, "received SIGINT")
    assert C.CANCELLED in CancelOnceRunIsCancelled.CONCLUSIONS
    assert {S.QUEUED} == CancelOnceRunIsCancelled.FROM_STATES


def test_needs_that_can_never_be_met_fail_the_job() -> None:
    job = Readying(needs=[], unrunnable="its needs form a cycle")
    FailWhenNeedsCannotBeMet.then(job)
    assert job.end == (C.FAILURE, "its needs form a cycle")


def test_a_job_inherits_its_needs_ancestry() -> None:
    job = Readying(needs=[(C.SUCCESS, OK), (C.SUCCESS, (False, False))])  # a skip further up
    InheritAncestry.then(job)
    assert (job.ancestry, job.status, job.end) == ((False, False), "failure", None)


def test_a_failed_need_makes_the_status_failure() -> None:
    job = Readying(needs=[(C.FAILURE, OK)])
    InheritAncestry.then(job)
    assert (job.ancestry, job.status) == ((False, True), "failure")


def test_a_false_if_skips_the_job() -> None:
    job = Readying(needs=[], evaluate_if=lambda status: status == "success")
    job.status = "failure"
    SkipWhenIfIsFalse.then(job)
    assert job.end == (C.SKIPPED, None)


def test_an_if_that_cannot_be_evaluated_fails_the_job() -> None:
    def broken(status: str) -> bool:
        raise StagelineError("unknown function 'nope'")

    job = Readying(needs=[], evaluate_if=broken)
    SkipWhenIfIsFalse.then(job)
    assert job.end == (C.FAILURE, "if: unknown function 'nope'")


def test_the_ready_policy_stops_at_the_first_rule_that_ends_the_job() -> None:
    evaluated: list[str] = []

    def record(status: str) -> bool:
        evaluated.append(status)
        return True

    cancelled = decide_ready(Readying(needs=[], run_cancelled="stop", evaluate_if=record))
    assert cancelled.end == (C.CANCELLED, "stop") and not evaluated
    admitted = decide_ready(Readying(needs=[(C.SKIPPED, OK)], evaluate_if=record))
    assert admitted.end is None and evaluated == ["failure"]
    assert READY_POLICY[0] is CancelOnceRunIsCancelled


def test_continue_on_error_counts_a_failure_as_success() -> None:
    done = Completion(S.IN_PROGRESS, C.FAILURE, continue_on_error=True)
    assert CountContinueOnErrorAsSuccess.applies(done)
    CountContinueOnErrorAsSuccess.then(done)
    assert (done.conclusion, done.result) == (C.FAILURE, C.SUCCESS)
    assert done.reason == "failed (continue-on-error: the run goes on)"


def test_continue_on_error_leaves_a_cancel_alone() -> None:
    done = decide_completion(Completion(S.IN_PROGRESS, C.CANCELLED, continue_on_error=True))
    assert done.result is C.CANCELLED


def test_a_failed_leg_with_fail_fast_cancels_its_siblings() -> None:
    done = Completion(S.IN_PROGRESS, C.FAILURE, legs=3, fail_fast=lambda: True)
    assert FailFastCancelsUnfinishedLegs.applies(done)
    FailFastCancelsUnfinishedLegs.then(done)
    assert done.cancel_siblings


@pytest.mark.parametrize(
    "done",
    [
        Completion(S.IN_PROGRESS, C.FAILURE, legs=3, fail_fast=lambda: False),
        Completion(S.IN_PROGRESS, C.FAILURE, legs=1),
        Completion(S.IN_PROGRESS, C.FAILURE, legs=3, continue_on_error=True),
    ],
    ids=["fail-fast false", "not a matrix", "continue-on-error"],
)
def test_fail_fast_leaves_the_siblings_alone(done: Completion) -> None:
    assert not decide_completion(done).cancel_siblings


def test_the_completion_policy_counts_continue_on_error_before_fail_fast() -> None:
    assert (CountContinueOnErrorAsSuccess, FailFastCancelsUnfinishedLegs) == COMPLETION_POLICY


def test_a_run_concludes_from_its_jobs_effective_results() -> None:
    assert S.WAITING in ConcludeRun.FROM_STATES
    assert ConcludeRun.then([C.SUCCESS, C.SKIPPED], cancelled=False) is C.SUCCESS
    assert ConcludeRun.then([C.CANCELLED], cancelled=False) is C.CANCELLED
