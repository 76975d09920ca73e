"""Reading the record: runs (filtered, a page at a time), one run, a run's step logs.

Each read has two forms: `runs_in`, `run_in`, `logs_in`, `job_log_in` read an
already-open `Store` (the server's, shared by its requests); `runs`, `run`, `logs`
open the record of the repository at `repo_dir` for one read (the CLI) and first
complete runs whose process is gone (an orphan gets conclusion failure or cancelled
and a reason), so the record never claims a dead run is still going.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app import context
from stageline.errors import RunError

if TYPE_CHECKING:
    from stageline.store import RunDetail, RunRecord, Store
    from stageline.store.records import ArtifactRecord, JobRecord

#: How often `logs(follow=True)` looks for more.
FOLLOW_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class LogLines:
    """New lines of one step's log; `first` on the first of them read."""

    job: str
    step: str
    lines: list[str]
    first: bool


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs to list; None matches anything."""

    #: The repository's path as runs record it (`RunRecord.repo_path`).
    repo_path: str | None = None
    #: A status (``queued``, ``waiting``, ``completed``…) or a conclusion (``failure``…).
    status: str | None = None
    #: A branch name (matches the run's ref ``refs/heads/<branch>``).
    branch: str | None = None
    #: The workflow's name or its file's path.
    workflow: str | None = None


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs, newest first; `next_cursor` fetches the next (None: no more)."""

    runs: list[RunRecord]
    next_cursor: str | None


def runs(
    repo_dir: str | Path, *, limit: int = 20, database_url: str | None = None
) -> list[RunRecord]:
    """The repository's newest runs, newest first."""

    with context.open(repo_dir, database_url, reap=True) as ctx:
        return runs_in(ctx.store, limit=limit).runs


def runs_in(
    store: Store, where: RunFilter = RunFilter(), *, limit: int = 20, cursor: str | None = None
) -> RunPage:
    """A page of the runs `where` selects, newest first, from `cursor` (a previous page's
    `next_cursor`) on. A cursor is opaque to callers; a malformed one is a RunError."""
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise RunError(f"not a cursor: {cursor!r}", hint="pass a page's next_cursor")
        before = int(cursor)
    found = store.runs.list_runs(
        repo_path=where.repo_path,
        limit=limit + 1,
        before=before,
        status=where.status,
        branch=where.branch,
        workflow=where.workflow,
    )
    page = found[:limit]
    more = len(found) > limit
    return RunPage(page, str(page[-1].id) if more and page else None)


def run(repo_dir: str | Path, run_id: int, *, database_url: str | None = None) -> RunDetail:
    """One run with its jobs, steps, annotations and artifacts."""

    with context.open(repo_dir, database_url, reap=True) as ctx:
        return run_in(ctx.store, run_id)


def run_in(store: Store, run_id: int) -> RunDetail:
    """One run with its jobs, steps, annotations and artifacts (StoreError: no such run)."""
    return store.runs.get_run(run_id)


def logs(
    repo_dir: str | Path,
    run_id: int,
    job: str | None = None,
    *,
    follow: bool = False,
    database_url: str | None = None,
) -> Iterator[LogLines]:
    """The run's step logs (see `logs_in`), reaping orphans while it follows."""
    with context.open(repo_dir, database_url, reap=True) as ctx:
        yield from logs_in(ctx.store, run_id, job, follow=follow, reap=True)


def logs_in(
    store: Store, run_id: int, job: str | None = None, *, follow: bool = False, reap: bool = False
) -> Iterator[LogLines]:
    """The run's step logs (of `job`: its id, key or name), in job and step order; with
    `follow`, more as they are written until the run completes. `reap`: complete
    orphaned runs between polls (a process that cannot tell a live run host's runs
    from dead ones must not)."""
    import time

    from stageline.store.logs import LogTail

    tails: dict[str, LogTail] = {}
    started: set[str] = set()
    while True:
        detail = store.runs.get_run(run_id)
        finished = detail.run.status == "completed"
        chosen = [j for j in detail.jobs if job is None or _is(j, job)]
        if job is not None and not chosen and finished:
            raise _no_job(detail, job)
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
        if reap:
            store.runs.reap_orphans()


class ArtifactGone(RunError):
    """The artifact was recorded, but it expired or its files are gone."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """A run's artifact as stored: its record, and the directory of its files."""

    record: ArtifactRecord
    files: Path


def artifact_in(store: Store, run_id: int, name: str) -> Artifact:
    """Run `run_id`'s artifact `name` (RunError: there is none; `ArtifactGone`: it
    expired, or its files are gone)."""
    from datetime import UTC, datetime

    detail = store.runs.get_run(run_id)
    record = next((a for a in reversed(detail.artifacts) if a.name == name), None)
    if record is None:
        names = ", ".join(sorted({a.name for a in detail.artifacts})) or "none"
        raise RunError(f"run {run_id} has no artifact {name!r}", hint=f"artifacts: {names}")
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        raise ArtifactGone(f"artifact {name!r} of run {run_id} expired at {record.expires_at}")
    files = Path(record.path) / "files"
    if not files.is_dir():
        raise ArtifactGone(f"the files of artifact {name!r} of run {run_id} are gone")
    return Artifact(record, files)


@dataclass(frozen=True, slots=True)
class JobLog:
    """One job's log as a single append-only byte stream: each step's file after a
    ``== job / step ==`` line (as `stageline logs` prints them), a newline added where a
    finished step's file lacks one.

    Steps of a job run one after another and their files only grow, so bytes already
    read never change: a byte range or an offset stays valid while the job runs.
    """

    job: str
    #: Each started step: its header line, its log file, whether it has finished.
    parts: list[tuple[bytes, Path, bool]]
    #: The job has ended: the stream will not grow.
    complete: bool
    #: How the job ended (None while it runs).
    conclusion: str | None

    @property
    def size(self) -> int:
        return sum(len(h) + n for h, p, done in self.parts for n in [_length(p, done)])

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `start` up to `end` (exclusive; None: to the end). Only the files the
        range touches are opened, each read from its offset, so a follower polling the
        end of a long log reads what is new, not the whole log."""
        out: list[bytes] = []
        position = 0
        for header, path, done in self.parts:
            for chunk, length in ((header, len(header)), (None, _length(path, done))):
                stop = position + length
                if stop > start and (end is None or position < end):
                    lo = max(start - position, 0)
                    hi = length if end is None else min(end - position, length)
                    out.append(chunk[lo:hi] if chunk is not None else _slice(path, done, lo, hi))
                position = stop
                if end is not None and position >= end:
                    return b"".join(out)
        return b"".join(out)


def job_log_in(store: Store, run_id: int, job: str) -> JobLog:
    """The log of job `job` (its id, key or name) of run `run_id`, as it is now."""
    return job_log_of(store.runs.get_run(run_id), job)


def job_log_of(detail: RunDetail, job: str) -> JobLog:
    """The log of job `job` (its id, key or name) of the run `detail` was read from."""
    record = next((j for j in detail.jobs if _is(j, job)), None)
    if record is None:
        raise _no_job(detail, job)
    done = record.status == "completed"
    parts = [
        (
            f"== {record.name} / {step.name} ==\n".encode(),
            Path(step.log_path),
            done or step.status == "completed",
        )
        for step in record.steps
        if step.log_path
    ]
    return JobLog(record.key, parts, done, record.conclusion)


def _is(record: JobRecord, job: str) -> bool:
    return job in (record.job_id, record.key, record.name)


def _no_job(detail: RunDetail, job: str) -> RunError:
    names = ", ".join(j.key for j in detail.jobs)
    return RunError(f"run {detail.run.id} has no job {job!r}", hint=f"jobs: {names}")


def _slice(path: Path, done: bool, lo: int, hi: int) -> bytes:
    """Bytes `lo` up to `hi` of a step's file as the stream holds it (`_length`): a
    finished step's file that lacks a final newline gets one."""
    try:
        with open(path, "rb") as handle:
            handle.seek(lo)
            data = handle.read(hi - lo)
    except FileNotFoundError:
        return b""
    if done and len(data) < hi - lo:  # the range reaches the newline the stream adds
        data += b"\n"
    return data


def _length(path: Path, done: bool) -> int:
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if not done or size == 0:
                return size
            handle.seek(size - 1)
            return size + (handle.read(1) != b"\n")
    except FileNotFoundError:
        return 0


__all__ = [
    "FOLLOW_POLL_S",
    "Artifact",
    "ArtifactGone",
    "JobLog",
    "LogLines",
    "RunFilter",
    "RunPage",
    "artifact_in",
    "job_log_in",
    "job_log_of",
    "logs",
    "logs_in",
    "run",
    "run_in",
    "runs",
    "runs_in",
]
