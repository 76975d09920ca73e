"""`on.schedule`: cron entries of each registered repository's default branch, in UTC.

Each `(repository, workflow file, cron)` keeps the last time it fired in the store
(`schedule_last`/`schedule_mark`). A tick fires an entry when a time its cron names has
come since then, once, however many such times passed: after downtime at most one
missed run starts (GitHub also drops schedules it could not run). An entry seen for the
first time starts counting from that tick, so registering a repository or adding a
schedule never fires for the past. A fire is a trigger like any push
(`app.triggers.trigger` with event `schedule`, `github.event.schedule` = the cron),
whose delivery id is the cron time, so two servers on one store start it once.

Workflows are read from the default branch as the mirror last fetched it (each push
fetches); the trigger fetches again before planning. The clock is injected: tests call
`tick(server, host, now)`, the server runs `running` (a thread ticking every 30 s).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from croniter import croniter  # type: ignore[import-untyped]  # ships no types

from stageline.app.triggers import IncomingEvent, trigger
from stageline.errors import StagelineError
from stageline.workflow.loader import WORKFLOW_DIRS

if TYPE_CHECKING:
    from stageline.app.host import RunHost
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow, TriggerRow

#: How often the server's background task looks for due schedules (GitHub's own
#: granularity is 5 minutes; a minute's cron fires within this of its time).
TICK_SECONDS = 30.0
_log = logging.getLogger(__name__)
#: Just after an instant, so a cron time equal to `now` counts as come.
_EPSILON = datetime.resolution


@dataclass(frozen=True, slots=True)
class Entry:
    """One cron entry of one workflow file on a repository's default branch."""

    workflow: str
    cron: str


def due(cron: str, last: datetime, now: datetime) -> datetime | None:
    """The latest time `cron` names in `(last, now]`, or None when none came: the one
    run to start, whatever number of times were missed."""
    last, now = last.astimezone(UTC), now.astimezone(UTC)  # croniter reads the zone given
    upcoming: datetime = croniter(cron, last).get_next(datetime)
    if upcoming > now:
        return None
    latest: datetime = croniter(cron, now + _EPSILON).get_prev(datetime)
    return latest


def entries(mirror: Path) -> tuple[str, list[Entry]]:
    """The default branch of the mirror and the cron entries of its workflows (files
    that do not load are skipped: `stageline validate` and a push report them)."""
    from stageline.errors import WorkflowError
    from stageline.workflow.loader import load_workflow

    branch = _git(mirror, "symbolic-ref", "--short", "HEAD")
    if branch is None:
        return "", []
    found: list[Entry] = []
    for directory in WORKFLOW_DIRS:
        listing = _git(mirror, "ls-tree", "--name-only", f"{branch}:{directory.as_posix()}")
        for name in sorted((listing or "").splitlines()):
            if not name.endswith((".yml", ".yaml")):
                continue
            path = f"{directory.as_posix()}/{name}"
            text = _git(mirror, "show", f"{branch}:{path}", strip=False)
            try:
                workflow = load_workflow(path, text=text or "")
            except WorkflowError:
                continue
            schedule = workflow.on.get("schedule")
            crons = schedule.config.get("cron") if schedule is not None else None
            found.extend(Entry(path, str(cron)) for cron in crons or [])
    return branch, found


def tick(server: ServerData, host: RunHost, now: datetime) -> list[TriggerRow]:
    """Start what is due at `now` (UTC) in every registered repository; the triggers
    recorded."""
    store = server.store.server
    fired: list[TriggerRow] = []
    for repo in store.list_repos():
        try:
            fired.extend(_tick_repo(server, host, repo, now))
        except StagelineError as err:  # one repository's trouble must not stop the rest
            _log.warning("schedule of %s: %s", repo.name, err)
    return fired


def _tick_repo(server: ServerData, host: RunHost, repo: RepoRow, now: datetime) -> list[TriggerRow]:
    store = server.store.server
    branch, found = entries(Path(repo.mirror_path))
    fired: list[TriggerRow] = []
    for entry in found:
        last = store.schedule_last(repo.id, entry.workflow, entry.cron)
        if last is None:
            store.schedule_mark(repo.id, entry.workflow, entry.cron, now)
            continue
        at = due(entry.cron, last, now)
        if at is None:
            continue
        store.schedule_mark(repo.id, entry.workflow, entry.cron, at)
        event = IncomingEvent(
            source="schedule",
            kind="schedule",
            delivery_id=f"{entry.workflow}|{entry.cron}|{at.isoformat()}",
            ref=f"refs/heads/{branch}",
            actor="schedule",
            payload={"schedule": entry.cron},
            workflow=entry.workflow,
        )
        recorded = trigger(server, host, repo, event)
        if recorded is not None:
            fired.append(recorded)
    return fired


@contextmanager
def running(
    server: ServerData,
    host: RunHost,
    *,
    every: float = TICK_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[None]:
    """The server's schedule while the block runs: a thread ticking every `every`
    seconds (a tick runs git and plans runs, so not on the event loop), stopped and
    joined when the block ends (a `server.app` service)."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                try:
                    tick(server, host, clock())
                except Exception:  # a bug in one tick must not end the schedule
                    _log.exception("schedule tick failed")
                stop.wait(every)
        finally:
            server.release()

    thread = threading.Thread(target=loop, name="stageline-schedule", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every + 30)


def _git(repo: Path, *args: str, strip: bool = True) -> str | None:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout


__all__ = ["TICK_SECONDS", "Entry", "due", "entries", "running", "tick"]
