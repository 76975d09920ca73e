"""Which state changes a job or run may make, as small named rules.

Each rule names one kind of transition (Prefect's orchestration policy is the
model): the states it leaves, the state it enters and, for `completed`, the
conclusions it may record. The engine asks `job_transition`/`run_transition`
before every change it records, so an impossible change (a completed job
starting again, a skipped job that had started) is a bug caught where it
happens rather than a puzzling record. Lookups are one dict access.

`run_conclusion` and the status functions say how a run and a job's `if:`
see the jobs before them, as GitHub does:

* a job with `continue-on-error` that fails is recorded as failed, but counts
  as succeeded for the jobs that need it and for the run;
* `success()` is true when every ancestor job (needs, transitively) succeeded:
  a skipped ancestor makes it false, which is how skips propagate (see
  `job_status` for the one status string the expression functions test).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stageline.runs.states import Conclusion, Status

S = Status
C = Conclusion


class InvalidTransition(Exception):
    """A state change no rule allows (a bug in the caller, not a user error)."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    sources: frozenset[Status | None]
    target: Status
    conclusions: frozenset[Conclusion | None] = frozenset({None})
    doc: str = ""


def _rule(
    name: str,
    sources: Iterable[Status | None],
    target: Status,
    conclusions: Iterable[Conclusion | None] = (None,),
    doc: str = "",
) -> Rule:
    return Rule(name, frozenset(sources), target, frozenset(conclusions), doc)


_NOT_STARTED = (S.QUEUED, S.PENDING, S.WAITING)

JOB_RULES: tuple[Rule, ...] = (
    _rule("QueuePlannedJob", [None], S.QUEUED, doc="a planned job enters the run"),
    _rule("HoldForConcurrencyGroup", [S.QUEUED], S.PENDING, doc="another job holds its group"),
    _rule("HoldAtGate", [S.QUEUED, S.PENDING], S.WAITING, doc="an environment gate holds it"),
    _rule("StartReadyJob", _NOT_STARTED, S.IN_PROGRESS, doc="needs met, gate passed"),
    _rule("HoldForBakeWindow", [S.IN_PROGRESS], S.WAITING, doc="deploy done, window running"),
    _rule(
        "CompleteRunningJob",
        [S.IN_PROGRESS],
        S.COMPLETED,
        [C.SUCCESS, C.FAILURE, C.CANCELLED],
        doc="the executor decided",
    ),
    _rule(
        "CompleteWaitingJob",
        [S.WAITING],
        S.COMPLETED,
        [C.SUCCESS, C.FAILURE, C.CANCELLED],
        doc="a gate refused it or the run was cancelled, or its bake window ended",
    ),
    _rule("SkipUnstartedJob", [S.QUEUED], S.COMPLETED, [C.SKIPPED], doc="its if: is false"),
    _rule(
        "CancelUnstartedJob",
        [S.QUEUED, S.PENDING],
        S.COMPLETED,
        [C.CANCELLED],
        doc="the run is cancelled, or a newer job took its concurrency group",
    ),
    _rule(
        "FailUnstartedJob",
        [S.QUEUED, S.PENDING],
        S.COMPLETED,
        [C.FAILURE],
        doc="it cannot start: bad if:, bad matrix",
    ),
)

RUN_RULES: tuple[Rule, ...] = (
    _rule("QueueRun", [None], S.QUEUED),
    _rule("HoldRunForConcurrencyGroup", [S.QUEUED], S.PENDING),
    _rule("StartRun", [S.QUEUED, S.PENDING, S.WAITING], S.IN_PROGRESS),
    _rule("HoldRunAtGate", [S.IN_PROGRESS], S.WAITING),
    _rule(
        "CompleteRun",
        [S.QUEUED, S.PENDING, S.IN_PROGRESS, S.WAITING],
        S.COMPLETED,
        [C.SUCCESS, C.FAILURE, C.CANCELLED],
    ),
)


def _index(rules: tuple[Rule, ...]) -> dict[tuple[Status | None, Status, Conclusion | None], Rule]:
    return {
        (source, rule.target, conclusion): rule
        for rule in rules
        for source in rule.sources
        for conclusion in rule.conclusions
    }


_JOB_INDEX = _index(JOB_RULES)
_RUN_INDEX = _index(RUN_RULES)


def job_transition(
    current: Status | None, target: Status, conclusion: Conclusion | None = None
) -> Rule:
    """The rule allowing a job to go from `current` to `target` (with `conclusion`)."""
    rule = _JOB_INDEX.get((current, target, conclusion))
    if rule is None:
        raise InvalidTransition(f"job cannot go from {current} to {target} ({conclusion})")
    return rule


def run_transition(
    current: Status | None, target: Status, conclusion: Conclusion | None = None
) -> Rule:
    rule = _RUN_INDEX.get((current, target, conclusion))
    if rule is None:
        raise InvalidTransition(f"run cannot go from {current} to {target} ({conclusion})")
    return rule


def effective_result(conclusion: Conclusion, continue_on_error: bool) -> Conclusion:
    """How a finished job counts for its dependents and the run."""
    if conclusion is C.FAILURE and continue_on_error:
        return C.SUCCESS
    return conclusion


def aggregate_result(results: Iterable[Conclusion]) -> Conclusion:
    """One result for a job's matrix legs (`needs.<id>.result`)."""
    seen = set(results)
    if C.FAILURE in seen:
        return C.FAILURE
    if C.CANCELLED in seen:
        return C.CANCELLED
    if seen and seen <= {C.SKIPPED}:
        return C.SKIPPED
    return C.SUCCESS


def run_conclusion(results: Iterable[Conclusion], cancelled: bool) -> Conclusion:
    """The run's conclusion from its jobs' effective results."""
    seen = set(results)
    if cancelled:
        return C.CANCELLED
    if C.FAILURE in seen:
        return C.FAILURE
    if C.CANCELLED in seen:
        return C.CANCELLED
    return C.SUCCESS


def job_status(ancestors_succeeded: bool, ancestor_failed: bool, run_cancelled: bool) -> str:
    """The status a job's `if:` is evaluated with (what `success()`, `failure()` and
    `cancelled()` test): ``cancelled`` once the run is cancelled, ``success`` when
    every ancestor succeeded, else ``failure``. An ancestor that was skipped or
    cancelled therefore makes `success()` false (the job is skipped by default)
    and `failure()` true, as GitHub reports it (github/docs#4822)."""
    if run_cancelled:
        return "cancelled"
    if ancestors_succeeded and not ancestor_failed:
        return "success"
    return "failure"
