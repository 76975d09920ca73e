"""One test per allowed transition, plus the ones that must be refused."""

from __future__ import annotations

import pytest

from stageline.runs.rules import (
    JOB_RULES,
    RUN_RULES,
    InvalidTransition,
    aggregate_result,
    effective_result,
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


def test_continue_on_error_failure_counts_as_success() -> None:
    # GitHub: `needs.<job>.result` of a failed continue-on-error job is 'success'.
    assert effective_result(C.FAILURE, True) is C.SUCCESS
    assert effective_result(C.FAILURE, False) is C.FAILURE
    assert effective_result(C.CANCELLED, True) is C.CANCELLED


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
