"""Reading the record: the newest runs, one run, a run's step logs.

Reads first complete runs whose process is gone (an orphan gets conclusion failure
or cancelled and a reason), so the record never claims a dead run is still going.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app import context
from stageline.errors import RunError

if TYPE_CHECKING:
    from stageline.store import RunDetail, RunRecord

#: How often `logs(follow=True)` looks for more.
FOLLOW_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class LogLines:
    """New lines of one step's log; `first` on the first of them read."""

    job: str
    step: str
    lines: list[str]
    first: bool


def runs(
    repo_dir: str | Path, *, limit: int = 20, database_url: str | None = None
) -> list[RunRecord]:
    """The repository's newest runs, newest first."""

    with context.open(repo_dir, database_url, reap=True) as ctx:
        return ctx.store.runs.list_runs(limit=limit)


def run(repo_dir: str | Path, run_id: int, *, database_url: str | None = None) -> RunDetail:
    """One run with its jobs, steps, annotations and artifacts."""

    with context.open(repo_dir, database_url, reap=True) as ctx:
        return ctx.store.runs.get_run(run_id)


def logs(
    repo_dir: str | Path,
    run_id: int,
    job: str | None = None,
    *,
    follow: bool = False,
    database_url: str | None = None,
) -> Iterator[LogLines]:
    """The run's step logs (of `job`: its id, key or name), in job and step order; with
    `follow`, more as they are written until the run completes."""
    import time

    from stageline.store.logs import LogTail

    tails: dict[str, LogTail] = {}
    started: set[str] = set()
    with context.open(repo_dir, database_url, reap=True) as ctx:
        while True:
            detail = ctx.store.runs.get_run(run_id)
            chosen = [j for j in detail.jobs if job is None or job in (j.job_id, j.key, j.name)]
            finished = detail.run.status == "completed"
            if job is not None and not chosen and finished:
                names = ", ".join(j.key for j in detail.jobs)
                raise RunError(f"run {run_id} has no job {job!r}", hint=f"jobs: {names}")
            for record in chosen:
                for step in record.steps:
                    if not step.log_path:
                        continue
                    tail = tails.setdefault(step.log_path, LogTail(Path(step.log_path)))
                    lines = list(tail.read(final=finished or step.status == "completed"))
                    if lines:
                        first = step.log_path not in started
                        started.add(step.log_path)
                        yield LogLines(record.name, step.name, lines, first)
            if not follow or finished:
                return
            time.sleep(FOLLOW_POLL_S)
            ctx.store.runs.reap_orphans()


__all__ = ["FOLLOW_POLL_S", "LogLines", "logs", "run", "runs"]
