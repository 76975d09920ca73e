"""Module-level delegates to `Store.runs`' reads (`store.ports.RunStore`), for existing
callers; they move to `store.runs.get_run(...)`, … and these names go."""

from __future__ import annotations

from stageline.store.liveness import STALE_AFTER_S, orphan_reason, pid_alive
from stageline.store.ports import Store
from stageline.store.records import EventRecord, RunDetail, RunRecord


def list_runs(store: Store, *, repo_path: str | None = None, limit: int = 50) -> list[RunRecord]:
    return store.runs.list_runs(repo_path=repo_path, limit=limit)


def get_run(store: Store, run_id: int) -> RunDetail:
    return store.runs.get_run(run_id)


def run_events(store: Store, run_id: int, *, after: int = 0) -> list[EventRecord]:
    return store.runs.run_events(run_id, after=after)


def run_state(store: Store, run_id: int) -> tuple[str, str | None]:
    return store.runs.run_state(run_id)


def reap_orphans(store: Store, *, now: float | None = None) -> list[int]:
    return store.runs.reap_orphans(now=now)


__all__ = [
    "STALE_AFTER_S",
    "get_run",
    "list_runs",
    "orphan_reason",
    "pid_alive",
    "reap_orphans",
    "run_events",
    "run_state",
]
