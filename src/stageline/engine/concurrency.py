"""`concurrency:` groups, across processes through the store.

A run (workflow-level group) or a job (job-level group) waits while an older member
of its group is active, and gives up when a newer one appears (GitHub keeps one
pending member per group). With `cancel-in-progress` it asks the older members to
cancel. The store is polled every `GROUP_POLL_S` while waiting, never otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from stageline.engine.context import evaluate_value, truthy
from stageline.errors import StagelineError
from stageline.store import db

GROUP_POLL_S = 0.2


def group_name(text: str | None, scope: Mapping[str, Any]) -> str | None:
    """The group a `concurrency:` value names (unevaluable text names itself)."""
    if not text:
        return None
    try:
        value = evaluate_value(text, scope)
    except StagelineError:
        return str(text)
    return str(value) if value not in (None, "") else None


def enabled(value: Any, contexts: Mapping[str, Any]) -> bool:
    """A `cancel-in-progress` value; one that cannot be evaluated is false."""
    try:
        return truthy(evaluate_value(value, contexts))
    except StagelineError:
        return False


def _cancel_note(number: int, group: str) -> str:
    return f"cancelled by run #{number} (concurrency group '{group}', cancel-in-progress)"


async def wait_run_turn(
    store: db.Store,
    group: str,
    *,
    run_id: int,
    number: int,
    cancel_older: bool,
    stopped: Callable[[], bool],
    announce: Callable[[str], None],
) -> str | None:
    """Wait until no older run of `group` is active. None: the run may start (unless
    `stopped()`); else why it must not (a newer run superseded it). `announce` is
    called once, with what the run waits for, if it has to wait."""
    announced = False
    store.runs.reap_orphans()
    while not stopped():
        members = store.runs.active_runs_in_group(group)
        older = [m for m in members if m.run_id < run_id]
        newer = [m for m in members if m.run_id > run_id]
        if newer:
            return f"superseded by run #{newer[-1].number} in concurrency group '{group}'"
        if not older:
            return None
        if cancel_older:
            for member in older:
                store.runs.request_cancel(member.run_id, _cancel_note(number, group))
        if not announced:
            announced = True
            numbers = ", ".join(f"#{m.number}" for m in older)
            announce(f"concurrency group '{group}' ({numbers})")
        await asyncio.sleep(GROUP_POLL_S)
    return None


async def wait_job_turn(
    store: db.Store,
    group: str,
    *,
    job_pk: int,
    number: int,
    cancel_older: bool,
    cancel: asyncio.Event,
    own_run: int | None = None,
) -> str | None:
    """Wait until no older job of `group` (in any run) is active. None: the job may go
    on (unless `cancel` is set); else why it must not (a newer job superseded it).
    With `own_run`, that run's jobs are not waited for (the jobs of one call share
    their caller's group)."""
    store.runs.reap_orphans()
    asked: set[int] = set()
    while not cancel.is_set():
        members = [m for m in store.runs.active_jobs_in_group(group) if m.run_id != own_run]
        older = [m for m in members if m.job_pk is not None and m.job_pk < job_pk]
        newer = [m for m in members if m.job_pk is not None and m.job_pk > job_pk]
        if newer:
            return (
                f"superseded by a newer job (run #{newer[-1].number}) "
                f"in concurrency group '{group}'"
            )
        if not older:
            return None
        if cancel_older:
            for member in older:
                if member.job_pk is not None and member.job_pk not in asked:
                    asked.add(member.job_pk)
                    store.runs.request_job_cancel(member.job_pk, _cancel_note(number, group))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cancel.wait(), GROUP_POLL_S)
    return None
