"""Module-level delegates to `Store.runs` (`store.ports.RunStore`), for existing callers.

Temporary: callers move to `store.runs.create_run(...)`, `store.runs.recorder(...)`,
… and these names go. The implementations are `store.sqlite` and `store.sql`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stageline.runs.states import Conclusion
from stageline.store.liveness import HOST
from stageline.store.ports import Recorder, Store
from stageline.store.records import Controls, GroupMember, NewJob, NewRun


def create_run(store: Store, new: NewRun, jobs: Iterable[NewJob], log_root: str) -> tuple[int, int]:
    return store.runs.create_run(new, jobs, log_root)


class RunRecorder:
    """`store.runs.recorder(run_id, schedule)` under its old constructor."""

    def __init__(
        self, store: Store, run_id: int, schedule: Callable[[Callable[[], None]], Any] | None = None
    ) -> None:
        self._recorder: Recorder = store.runs.recorder(run_id, schedule)
        self.run_id = run_id

    def run(self, **values: Any) -> None:
        self._recorder.run(**values)

    def job(self, key: str, **values: Any) -> None:
        self._recorder.job(key, **values)

    def add_jobs(self, jobs: Iterable[NewJob], *, replacing: str | None = None) -> None:
        self._recorder.add_jobs(jobs, replacing=replacing)

    def step_started(self, job_key: str, number: int, name: str, at: float) -> None:
        self._recorder.step_started(job_key, number, name, at)

    def step_finished(self, job_key: str, number: int, started: bool, **values: Any) -> None:
        self._recorder.step_finished(job_key, number, started, **values)

    def annotation(self, job_key: str, **values: Any) -> None:
        self._recorder.annotation(job_key, **values)

    def artifact(self, job_key: str, **values: Any) -> None:
        self._recorder.artifact(job_key, **values)

    def event(
        self, kind: str, job_key: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self._recorder.event(kind, job_key, data)

    @property
    def pending(self) -> int:
        return self._recorder.pending

    def flush(self) -> None:
        self._recorder.flush()


def heartbeat(store: Store, run_id: int) -> Controls:
    return store.runs.heartbeat(run_id)


def request_job_cancel(store: Store, job_pk: int, reason: str) -> None:
    store.runs.request_job_cancel(job_pk, reason)


def request_cancel(store: Store, run_id: int, reason: str) -> bool:
    return store.runs.request_cancel(run_id, reason)


def active_runs_in_group(store: Store, group: str) -> list[GroupMember]:
    return store.runs.active_runs_in_group(group)


def active_jobs_in_group(store: Store, group: str) -> list[GroupMember]:
    return store.runs.active_jobs_in_group(group)


def job_pk(store: Store, run_id: int, key: str) -> int:
    return store.runs.job_pk(run_id, key)


def finish_orphan(store: Store, run_id: int, reason: str, conclusion: Conclusion) -> None:
    store.runs.finish_orphan(run_id, reason, conclusion)


__all__ = [
    "HOST",
    "Controls",
    "GroupMember",
    "NewJob",
    "NewRun",
    "RunRecorder",
    "active_jobs_in_group",
    "active_runs_in_group",
    "create_run",
    "finish_orphan",
    "heartbeat",
    "job_pk",
    "request_cancel",
    "request_job_cancel",
]
