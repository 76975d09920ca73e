"""The live terminal view of a run: an engine `Observer` drawing with Rich.

While the run goes on, one row per job (a spinner while it runs, its state, elapsed
time, the step it is on or what it waits for) and, under them, the last lines of every
failed step. When the run finishes, the live rows give way to a summary table laid out
by the run's graph (its topological layers) and a one-line picture of that graph.

`make_observer` chooses the view: this one on a terminal, the caller's line printer
anywhere else (a pipe, a CI log, a dumb terminal). Events arrive on the engine's loop
while Rich redraws from its own thread, so every state change and every redraw holds
one lock; `handle` only updates a few fields and returns.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from stageline.engine import events as ev
from stageline.errors import WorkflowError
from stageline.plan.model import Plan
from stageline.workflow.graph import layers, through_calls

#: Lines of a failed step shown under the table and in the summary.
TAIL_LINES = 8
#: Above this many jobs the live table shows only the active and failed ones.
MAX_LIVE_ROWS = 24
#: Above this many jobs the summary table lists only those that did not succeed.
MAX_SUMMARY_ROWS = 50
#: Above this many jobs in a layer, the graph line counts them instead of naming them.
MAX_NAMED_PER_LAYER = 6

_ICONS = {
    "success": ("✓", "green"),
    "failure": ("✗", "bold red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("-", "dim"),
    "waiting": ("⏸", "yellow"),
    "queued": ("·", "dim"),
}


@dataclass
class _Job:
    key: str
    job_id: str
    name: str
    needs: tuple[str, ...]
    state: str = "queued"  # queued | waiting | in_progress | a conclusion
    started: float | None = None
    finished: float | None = None
    step: str = ""
    detail: str = ""  # waiting_for, or the reason a job ended as it did
    spinner: Spinner = field(default_factory=lambda: Spinner("dots", style="cyan"))
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    failed_step: str = ""
    tail: tuple[str, ...] = ()

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.finished or now) - self.started


def format_duration(seconds: float | None) -> str:
    """`0.4s`, `12.3s`, `2m05s`, `1h02m`: short enough for a table cell."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class LiveView:
    """Observer that shows a run live on a terminal and summarises it at the end.

    The display starts at ``run.started`` and stops at ``run.finished``; a caller whose
    run can end without that event (a crash) calls `close()` to give the terminal back.
    """

    def __init__(self, console: Console, plan: Plan | None = None) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._title = ""
        self._live: Live | None = None
        if plan is not None:
            for job in plan.jobs:
                self._add(job.key, job.job_id, job.name, tuple(job.needs))

    # -- events ---------------------------------------------------------------------

    def handle(self, event: ev.EngineEvent) -> None:
        with self._lock:
            finished = self._apply(event)
        if isinstance(event, ev.RunStarted):
            self._start()
        elif finished is not None:
            self.close()
            self.console.print(self.summary(finished))

    def _apply(self, event: ev.EngineEvent) -> ev.RunFinished | None:
        """Fold one event into the state; the `RunFinished` when the run is over."""
        match event:
            case ev.RunStarted():
                self._title = (
                    f"{event.workflow} #{event.number} · {event.event} · "
                    f"{event.ref.removeprefix('refs/heads/')} · {event.sha[:7]}"
                )
                for info in event.jobs:
                    self._add(info.key, info.job_id, info.name, info.needs)
            case ev.JobQueued():
                self._add(event.job.key, event.job.job_id, event.job.name, event.job.needs)
            case ev.JobWaiting():
                job = self._job(event.job_key, event.name)
                job.state, job.detail = "waiting", event.waiting_for
            case ev.JobStarted():
                job = self._job(event.job_key, event.name)
                job.state, job.started, job.detail = "in_progress", event.at, ""
            case ev.StepStarted():
                job = self._job(event.job_key)
                job.step = event.name
                job.lines.clear()
            case ev.LogLine():
                self._job(event.job_key).lines.append(event.line)
            case ev.StepFinished() if event.outcome == "failure":
                job = self._job(event.job_key)
                job.failed_step, job.tail = event.name, tuple(job.lines)
            case ev.JobFinished():
                job = self._job(event.job_key, event.name)
                job.state, job.finished, job.step = event.conclusion, event.at, ""
                job.detail = event.reason or ""
                if job.started is None and event.duration:
                    job.started = event.at - event.duration
                if event.tail:
                    job.tail = event.tail
            case ev.RunFinished():
                return event
        return None

    def _add(self, key: str, job_id: str, name: str, needs: Iterable[str]) -> None:
        if key not in self._jobs:
            self._jobs[key] = _Job(key, job_id, name, tuple(needs))

    def _job(self, key: str, name: str = "") -> _Job:
        """The job `key`, added on the fly if the engine never announced it."""
        if key not in self._jobs:
            self._add(key, key, name or key, ())
        return self._jobs[key]

    # -- live display ---------------------------------------------------------------

    def _start(self) -> None:
        if self._live is None:
            self._live = Live(
                console=self.console,
                get_renderable=self.render,
                refresh_per_second=8,
                transient=True,
            )
            self._live.start()

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def render(self) -> RenderableType:
        """What the live display shows now."""
        with self._lock:
            now = time.time()
            jobs = list(self._jobs.values())
            table = Table.grid(padding=(0, 1))
            table.add_column(width=1)
            table.add_column(no_wrap=True)
            table.add_column(no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
            table.add_column(no_wrap=True, overflow="ellipsis", style="dim")
            shown = jobs
            if len(jobs) > MAX_LIVE_ROWS:
                shown = [j for j in jobs if j.state in ("in_progress", "waiting", "failure")]
                shown = shown[:MAX_LIVE_ROWS]
            for job in shown:
                table.add_row(
                    self._icon(job),
                    job.name,
                    Text(job.state.replace("_", " "), style=_style(job.state)),
                    format_duration(job.elapsed(now)),
                    job.step or job.detail,
                )
            parts: list[RenderableType] = [Text(self._title, style="bold"), table]
            if len(shown) < len(jobs):
                parts.append(Text(_counts(jobs), style="dim"))
            parts.extend(_tail_block(j, crop=True) for j in jobs if j.tail and j.state == "failure")
            return Group(*parts)

    @staticmethod
    def _icon(job: _Job) -> RenderableType:
        if job.state == "in_progress":
            return job.spinner
        icon, style = _ICONS.get(job.state, ("?", ""))
        return Text(icon, style=style)

    # -- summary --------------------------------------------------------------------

    def summary(self, finished: ev.RunFinished) -> RenderableType:
        """The table printed once the run is over, laid out by the run's graph."""
        with self._lock:
            jobs = list(self._jobs.values())
        stage = _stages(jobs)
        table = Table(expand=False)
        table.add_column("stage", justify="right")
        table.add_column("job")
        table.add_column("result")
        table.add_column("time", justify="right")
        notes = any(job.detail for job in jobs)
        if notes:
            table.add_column("note", overflow="fold")
        listed = jobs
        if len(jobs) > MAX_SUMMARY_ROWS:
            listed = [j for j in jobs if j.state != "success"][:MAX_SUMMARY_ROWS]
            table.caption = f"{len(jobs) - len(listed)} more jobs not listed (succeeded or beyond)"
        for job in sorted(listed, key=lambda j: stage.get(j.key, 0)):
            cells: list[RenderableType] = [
                str(stage.get(job.key, 0) + 1),
                job.name,
                Text(job.state.replace("_", " "), style=_style(job.state)),
                format_duration(job.elapsed(finished.at)),
            ]
            if notes:
                cells.append(job.detail)
            table.add_row(*cells)
        verdict = Text.assemble(
            (f"{finished.workflow} #{finished.number} ", "bold"),
            (finished.conclusion, _style(finished.conclusion)),
            f" in {format_duration(finished.duration)}",
            f": {finished.reason}" if finished.reason else "",
        )
        parts: list[RenderableType] = [Text(self._title, style="bold"), table]
        parts.append(Text("graph: ") + _graph_line(jobs, stage))
        parts.extend(_tail_block(j) for j in jobs if j.tail and j.state == "failure")
        parts.append(verdict)
        return Group(*parts)


#: Which of a matrix job's legs colours it in the graph: the lowest rank.
_RANK = {"failure": 0, "cancelled": 1, "in_progress": 2, "waiting": 3, "queued": 4}


def _style(state: str) -> str:
    return {"in_progress": "cyan"}.get(state, _ICONS.get(state, ("", ""))[1])


def _counts(jobs: list[_Job]) -> str:
    tally: dict[str, int] = {}
    for job in jobs:
        tally[job.state] = tally.get(job.state, 0) + 1
    return " · ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(tally.items()))


def _stages(jobs: list[_Job]) -> dict[str, int]:
    """Each job key's layer in the graph of `needs` (by job id, so matrix legs share one)."""
    needs: dict[str, list[str]] = {}
    for job in jobs:
        needs.setdefault(job.job_id, list(job.needs))
    try:
        staged = layers(through_calls(needs))
        by_id = {job_id: n for n, layer in enumerate(staged) for job_id in layer}
    except WorkflowError:  # a cycle never reaches a run; lay it out flat rather than fail
        by_id = {}
    return {job.key: by_id.get(job.job_id, 0) for job in jobs}


def _graph_line(jobs: list[_Job], stage: dict[str, int]) -> Text:
    """``build → integration, e2e → deploy`` by job id (a matrix job once, with its leg
    count), each coloured by its result: the worst of its legs."""
    line = Text()
    depth = max(stage.values(), default=-1) + 1
    for n in range(depth):
        members: dict[str, list[_Job]] = {}
        for job in jobs:
            if stage[job.key] == n:
                members.setdefault(job.job_id, []).append(job)
        if n:
            line.append(" → ", style="dim")
        if len(members) > MAX_NAMED_PER_LAYER:
            line.append(
                f"[{len(members)} jobs: {_counts([j for js in members.values() for j in js])}]"
            )
            continue
        for i, (job_id, legs) in enumerate(members.items()):
            if i:
                line.append(", ")
            worst = min(legs, key=lambda j: _RANK.get(j.state, 0))
            label = f"{job_id} ×{len(legs)}" if len(legs) > 1 else job_id
            line.append(label, style=_style(worst.state))
    return line


def _tail_block(job: _Job, crop: bool = False) -> RenderableType:
    """The failed step's last lines; cropped to one row each in the live display."""
    step = f" / {job.failed_step}" if job.failed_step else ""
    head = Text(f"── {job.name}{step}: last lines", style="red")
    lines = (
        Text("   " + line, style="dim", no_wrap=crop, overflow="ellipsis" if crop else "fold")
        for line in job.tail[-TAIL_LINES:]
    )
    return Group(head, *lines)


def make_observer(console: Console, plan: Plan | None, *, fallback: ev.Observer) -> ev.Observer:
    """The live view on an interactive terminal, `fallback` (line logs) anywhere else."""
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveView(console, plan)
    return fallback


__all__ = ["LiveView", "format_duration", "make_observer"]
