"""Which state changes a job or run may make, as small named rules.

Each rule names one kind of transition (Prefect's orchestration policy is the
model): the states it leaves, the state it enters and, for `completed`, the
conclusions it may record. The engine asks `job_transition`/`run_transition`
before every change it records, so an impossible change (a completed job
starting again, a skipped job that had started) is a bug caught where it
happens rather than a puzzling record. Lookups are one dict access.

What follows a transition is stated the same way, as two ordered policies of
small rules, each naming the states it goes from and to (`engine.state` applies
them; a fresh run and a resumed one alike):

* `READY_POLICY`, when a queued job's needs are all done: a cancelled run
  cancels it; a need that can never be met fails it; it inherits its needs'
  ancestry, from which `job_status` gives the status its `if:` sees (a skipped
  or failed ancestor makes `success()` false: this is how skips propagate); a
  false `if:` skips it. A job no rule ends is admitted to run.
* `COMPLETION_POLICY`, when a job completes: with `continue-on-error` a
  failure is recorded as failed but counts as succeeded for the jobs that need
  it and for the run; a failed matrix leg with `fail-fast` cancels its
  unfinished siblings.

`run_conclusion` (the `ConcludeRun` rule) gives the run's conclusion from its
jobs' effective results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from stageline.errors import StagelineError
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
ACTIVE = (*_NOT_STARTED, S.IN_PROGRESS)

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
    """The rule allowing the run to go from `current` to `target` (with `conclusion`)."""
    rule = _RUN_INDEX.get((current, target, conclusion))
    if rule is None:
        raise InvalidTransition(f"run cannot go from {current} to {target} ({conclusion})")
    return rule


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


# -- what follows: when a job is ready ---------------------------------------------------


class Readying:
    """A queued job whose needs are all done, as the ready policy sees it. The rules
    fill `ancestry`, `status` and, when the job must not run, `end`.

    `needs`: per need, its (aggregated) result and its own ancestry (succeeded,
    failed); `run_cancelled`: why the run was cancelled, if it was; `unrunnable`:
    why the job's needs can never be met (an unknown job, a cycle), if so;
    `evaluate_if`: the job's `if:` under a status string, raising `StagelineError`
    when invalid. (Plain classes here: a dataclass costs start-up time.)"""

    __slots__ = ("ancestry", "end", "evaluate_if", "needs", "run_cancelled", "status", "unrunnable")

    def __init__(
        self,
        needs: Sequence[tuple[Conclusion, tuple[bool, bool]]],
        run_cancelled: str | None = None,
        unrunnable: str | None = None,
        evaluate_if: Callable[[str], bool] = lambda status: status == "success",
    ) -> None:
        self.needs = needs
        self.run_cancelled = run_cancelled
        self.unrunnable = unrunnable
        self.evaluate_if = evaluate_if
        self.ancestry: tuple[bool, bool] = (True, False)
        self.status = "success"
        self.end: tuple[Conclusion, str | None] | None = None


class ReadyRule:
    """A rule consulted for a queued job whose needs are done: FROM queued, TO the
    state `then` ends it in (or still queued, admitted to run)."""

    FROM_STATES: ClassVar[frozenset[Status]] = frozenset({S.QUEUED})
    TO_STATES: ClassVar[frozenset[Status]] = frozenset({S.COMPLETED})
    CONCLUSIONS: ClassVar[frozenset[Conclusion]] = frozenset()

    @staticmethod
    def then(job: Readying) -> None:
        raise NotImplementedError


class CancelOnceRunIsCancelled(ReadyRule):
    """A cancelled run starts nothing more, `if: always()` included (a cancelled
    local run stops)."""

    CONCLUSIONS = frozenset({C.CANCELLED})

    @staticmethod
    def then(job: Readying) -> None:
        if job.run_cancelled is not None:
            job.end = (C.CANCELLED, job.run_cancelled)


class FailWhenNeedsCannotBeMet(ReadyRule):
    """A hand-built plan whose needs name unknown jobs or form a cycle fails those
    jobs clearly rather than waiting forever."""

    CONCLUSIONS = frozenset({C.FAILURE})

    @staticmethod
    def then(job: Readying) -> None:
        if job.unrunnable is not None:
            job.end = (C.FAILURE, job.unrunnable)


class InheritAncestry(ReadyRule):
    """Its ancestors succeeded when every need and the needs' ancestors succeeded;
    one failed when any need or ancestor failed. `job_status` turns that into the
    status its `if:` sees."""

    TO_STATES = frozenset({S.QUEUED})

    @staticmethod
    def then(job: Readying) -> None:
        succeeded, failed = True, False
        for result, (up_ok, up_failed) in job.needs:
            succeeded = succeeded and up_ok and result is C.SUCCESS
            failed = failed or up_failed or result is C.FAILURE
        job.ancestry = (succeeded, failed)
        job.status = job_status(succeeded, failed, job.run_cancelled is not None)


class SkipWhenIfIsFalse(ReadyRule):
    """A false `if:` skips the job (default `success()`: skips propagate); an `if:`
    that cannot be evaluated fails it."""

    CONCLUSIONS = frozenset({C.SKIPPED, C.FAILURE})

    @staticmethod
    def then(job: Readying) -> None:
        try:
            runs = job.evaluate_if(job.status)
        except StagelineError as err:
            job.end = (C.FAILURE, f"if: {err.message}")
            return
        if not runs:
            job.end = (C.SKIPPED, None)


READY_POLICY: tuple[type[ReadyRule], ...] = (
    CancelOnceRunIsCancelled,
    FailWhenNeedsCannotBeMet,
    InheritAncestry,
    SkipWhenIfIsFalse,
)


def decide_ready(job: Readying) -> Readying:
    """Apply `READY_POLICY` in order until a rule ends the job."""
    for rule in READY_POLICY:
        rule.then(job)
        if job.end is not None:
            break
    return job


# -- what follows: when a job completes --------------------------------------------------


class Completion:
    """A job's completion as the completion policy sees it. The rules fill `result`
    (how it counts for dependents and the run), `reason` and `cancel_siblings`.

    `legs`: how many legs its matrix has (1 for a plain job); `fail_fast`: the
    leg's `fail-fast`, evaluated only when a rule asks."""

    __slots__ = (
        "cancel_siblings",
        "conclusion",
        "continue_on_error",
        "fail_fast",
        "legs",
        "reason",
        "result",
        "source",
    )

    def __init__(
        self,
        source: Status,
        conclusion: Conclusion,
        reason: str | None = None,
        continue_on_error: bool = False,
        legs: int = 1,
        fail_fast: Callable[[], bool] = lambda: True,
    ) -> None:
        self.source = source
        self.conclusion = conclusion
        self.reason = reason
        self.continue_on_error = continue_on_error
        self.legs = legs
        self.fail_fast = fail_fast
        self.result = conclusion
        self.cancel_siblings = False


class CompletionRule:
    """A rule consulted when a job goes FROM one of `FROM_STATES` TO completed with
    one of `CONCLUSIONS`; `then` says what follows."""

    FROM_STATES: ClassVar[frozenset[Status]] = frozenset(ACTIVE)
    TO_STATES: ClassVar[frozenset[Status]] = frozenset({S.COMPLETED})
    CONCLUSIONS: ClassVar[frozenset[Conclusion]] = frozenset(C)

    @classmethod
    def applies(cls, done: Completion) -> bool:
        return done.source in cls.FROM_STATES and done.conclusion in cls.CONCLUSIONS

    @staticmethod
    def then(done: Completion) -> None:
        raise NotImplementedError


class CountContinueOnErrorAsSuccess(CompletionRule):
    """A failure with `continue-on-error` is recorded as failed but counts as
    succeeded for the jobs that need it and for the run."""

    CONCLUSIONS = frozenset({C.FAILURE})

    @staticmethod
    def then(done: Completion) -> None:
        if done.continue_on_error:
            done.result = C.SUCCESS
            done.reason = done.reason or "failed (continue-on-error: the run goes on)"


class FailFastCancelsUnfinishedLegs(CompletionRule):
    """A matrix leg that counts as failed cancels its unfinished siblings unless its
    `fail-fast` is false."""

    CONCLUSIONS = frozenset({C.FAILURE})

    @staticmethod
    def then(done: Completion) -> None:
        if done.result is C.FAILURE and done.legs > 1 and done.fail_fast():
            done.cancel_siblings = True


COMPLETION_POLICY: tuple[type[CompletionRule], ...] = (
    CountContinueOnErrorAsSuccess,
    FailFastCancelsUnfinishedLegs,
)


def decide_completion(done: Completion) -> Completion:
    """Apply every rule of `COMPLETION_POLICY` that matches, in order."""
    for rule in COMPLETION_POLICY:
        if rule.applies(done):
            rule.then(done)
    return done


class ConcludeRun:
    """The run goes FROM any active status TO completed with `run_conclusion`."""

    FROM_STATES: ClassVar[frozenset[Status]] = frozenset(ACTIVE)
    TO_STATES: ClassVar[frozenset[Status]] = frozenset({S.COMPLETED})

    @staticmethod
    def then(results: Iterable[Conclusion], cancelled: bool) -> Conclusion:
        return run_conclusion(results, cancelled)
