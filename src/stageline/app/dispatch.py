"""Jobs on workers (ADR 0012): the server's `Dispatcher` and the `RemoteExecutor`.

One `Dispatcher` per server process. It sends each job as a Celery task carrying only
a claim ticket (`TaskArgs`) to the queue its `runs-on` labels map to, and keeps the
hub of pending attempts: attempt id → the request (secrets included), the engine's
sink, the run's event loop, its cancel token and the future `run_job` awaits. The
agent API (`server.api.agent`) calls `heartbeat`, `claim`, `events` and `finish`
from its threads; everything that reaches the engine is replayed onto the run's loop
with `call_soon_threadsafe`, in order.

The store holds the lease (`Store.dispatch`): a reaper thread, every second, ends a
job whose worker stopped extending its lease ("worker NAME lost", or one retry with
`retry_lost_jobs`), a job no live worker serves for `no_worker_timeout`, and a job
past its `timeout-minutes` on the server's clock plus `LEASE_S` (the backstop). It
sends again a task that an idle worker of its queue has not taken for `RESEND_S` while
the broker's queue is empty (lost with a broker that restarted without it).

After a restart the server adopts its predecessor's live attempts (`expect`, then
`submit` finds them: `app.adoption`); until the resumed engine reaches a job, its
worker's calls are answered "not yet" (`NotYet`, 503) and it retries. `detach` stops
the dispatcher for a restart: it freezes the runs' loops where they are, so nothing
is concluded and the next start resumes them.

The broker is touched only to send: no result backend, so no secret rests there.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stageline.app import workers
from stageline.app.adoption import Adoptable, adoptable, restore
from stageline.errors import ConfigError, RunError, StagelineError
from stageline.executors.base import (
    Admissions,
    Annotation,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
    StepResult,
)
from stageline.runner.places import LogDir, LogFile
from stageline.runs.states import Conclusion
from stageline.store.worker_records import LIVE_ATTEMPT_STATES
from stageline.worker import protocol as p

if TYPE_CHECKING:
    from celery import Celery

    from stageline.app.serverdata import ServerData
    from stageline.store.worker_records import AttemptRow, WorkerRow

log = logging.getLogger(__name__)

#: How often the reaper looks at leases, waiting jobs and timeouts (seconds).
REAP_EVERY_S = 1.0
#: How long a job may wait for a live worker that serves its queue (seconds).
NO_WORKER_TIMEOUT_S = 600.0
#: An attempt still queued this long after its send while a worker of its queue has a
#: free slot and the broker holds no task of that queue is sent again: its task was lost
#: (a broker restarted without it). A duplicate is harmless: the second claim is refused
#: and the task dropped.
RESEND_S = 30.0
#: The reason a job's attempt carries when the server that sent it restarted.
RESTARTED = "the server restarted"
#: The reason of an adoptable attempt whose resumed run did not run its job again.
NOT_RESUMED = "the server restarted and its resumed run did not run the job again"
#: How many runs' repository names the dispatcher keeps for claims.
REPO_NAMES = 1024
#: `detach` hops through a run's loop this many times before freezing it, so that the
#: record of what the loop was told (flushed once per turn) is written first.
FLUSH_HOPS = 3


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """The server's settings for `--executor celery`."""

    broker: str = p.DEFAULT_BROKER
    #: `(label pattern, queue)` pairs, tried in order before `DEFAULT_LABELS`.
    queues: tuple[tuple[str, str], ...] = ()
    retry_lost_jobs: bool = False
    no_worker_timeout: float = NO_WORKER_TIMEOUT_S
    lease_s: float = p.LEASE_S
    live_s: float = p.LIVE_S
    reap_every: float = REAP_EVERY_S
    resend_s: float = RESEND_S


def parse_queue_map(pairs: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`LABEL=QUEUE` options (LABEL an fnmatch pattern) as `DispatchSettings.queues`."""
    found: list[tuple[str, str]] = []
    for pair in pairs:
        label, sep, queue = pair.partition("=")
        if not sep or not label.strip() or not queue.strip():
            raise ConfigError(f"--queue {pair!r}: expected LABEL=QUEUE", hint="--queue gpu=gpu")
        found.append((label.strip(), queue.strip()))
    return tuple(found)


def labels_of(runs_on: Any, contexts: Mapping[str, Any]) -> list[str]:
    """A job's `runs-on` as labels: a string, a list, or `{group, labels}`; expressions
    evaluated in the job's contexts (a matrix leg's `${{ matrix.os }}`)."""
    from stageline.expressions import evaluate_template

    value = runs_on.get("labels") if isinstance(runs_on, dict) else runs_on
    items = value if isinstance(value, list) else [value]
    labels: list[str] = []
    for item in items:
        if item is None:
            continue
        got = evaluate_template(item, contexts) if isinstance(item, str) else item
        labels += [str(x) for x in got] if isinstance(got, list) else [str(got)]
    return [label for label in labels if label]


def queue_for(labels: Sequence[str], queues: Sequence[tuple[str, str]] = ()) -> str:
    """The queue a job with `labels` goes to (ADR 0012): each label maps through
    `queues`, then `DEFAULT_LABELS` (to the default queue), else is its own queue; the
    one queue other than the default, else the default. Two are a `RunError`."""
    chosen: set[str] = set()
    for label in labels:
        mapped = next((q for pattern, q in queues if fnmatch.fnmatchcase(label, pattern)), None)
        if mapped is None and any(fnmatch.fnmatchcase(label, d) for d in p.DEFAULT_LABELS):
            mapped = p.DEFAULT_QUEUE
        chosen.add(mapped or label)
    special = sorted(chosen - {p.DEFAULT_QUEUE})
    if len(special) > 1:
        raise RunError(
            f"runs-on [{', '.join(labels)}] maps to the queues {' and '.join(special)}; "
            "a job goes to one queue",
            hint="map its labels to one queue with `serve --queue LABEL=QUEUE`",
        )
    return special[0] if special else p.DEFAULT_QUEUE


def no_worker_text(labels: Sequence[str]) -> str:
    return f"no worker serves [{', '.join(labels)}]"


class StaleAttempt(RunError):
    """A worker's call about an attempt that is not its `running` one (fencing: 409)."""


class BadBatch(RunError):
    """An event a worker sent that the server cannot read (answered 400)."""


class NotYet(RunError):
    """A call about an attempt the restarted server will adopt once its resumed engine
    reaches the job, or made while the server stops (503: the worker retries)."""


@dataclass(eq=False)
class _Pending:
    """An attempt the engine awaits: what its calls need to reach the engine."""

    attempt: AttemptRow
    request: JobRequest
    sink: JobSink
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[JobResult]
    labels: list[str]
    timeout_s: float | None
    logs: LogDir | None
    waiting: str | None = None
    #: Why the job must stop, once the dispatcher asked its worker to (the reply to its
    #: next batch says it too).
    cancel: str | None = None
    unserved_since: float | None = None
    claimed_at: float | None = None
    sent_at: float = field(default_factory=time.time)
    files: dict[int, LogFile] = field(default_factory=dict)
    #: Steps whose log is complete: index → (path, size).
    logged: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    #: Steps started and not finished: index → name (a lost job's are ended failed).
    open_steps: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call `fn(*args)` on the run's loop, after everything posted before."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the run's loop is closed: nothing awaits it any more
            log.debug("run loop closed; dropped a call for attempt %s", self.attempt.id)

    def settle(self, result: JobResult) -> None:
        for file in self.files.values():
            file.close()
        self.files.clear()
        self.post(_resolve, self.future, result)

    def hold(self, waiting_for: str | None) -> None:
        """Tell the engine the job waits for `waiting_for` (None: it no longer does)."""
        if waiting_for == self.waiting:
            return
        self.waiting = waiting_for
        self.post(self.sink.event, "job.waiting", {"waiting_for": waiting_for})


#: A sink call to make on the run's loop: the method and its arguments.
_Call = tuple[Callable[..., Any], tuple[Any, ...]]


def _call_all(calls: list[_Call]) -> None:
    """Make a batch's sink calls in order; one that fails is logged, the rest go on."""
    for fn, args in calls:
        try:
            fn(*args)
        except Exception:
            log.exception("a worker's event could not be applied")


def _resolve(future: asyncio.Future[JobResult], result: JobResult) -> None:
    if not future.done():
        future.set_result(result)


class Dispatcher:
    """Sends jobs to workers and answers them (module doc). Thread-safe."""

    def __init__(self, server: ServerData, settings: DispatchSettings | None = None) -> None:
        self.server = server
        self.settings = settings or DispatchSettings()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._hub: dict[str, _Pending] = {}
        self._celery: Celery | None = None
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        #: The live workers as last read (`live_workers`), and when (monotonic).
        self._live: tuple[float, list[WorkerRow]] | None = None
        #: Run id → its repository's name (the claim reply's `repo`), bounded.
        self._repos: dict[int, str] = {}
        #: Attempts a restart left live, to adopt: (run id, job key) → its record.
        self._adoptable: dict[tuple[int, str], Adoptable] = {}
        #: The loops of the runs in flight (`detach` freezes them).
        self._loops: set[asyncio.AbstractEventLoop] = set()
        self._detached = False
        self._frozen = threading.Event()

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Make the Celery app (the broker is connected on the first send). The attempts
        a previous server left are the business of `expect`, then `recovered` starts the
        reaper."""
        self._celery = p.celery_app(self.settings.broker)

    def detach(self, timeout: float = 10.0) -> None:
        """Stop for a restart (ADR 0012): stop the reaper and answer workers "not yet",
        let each run's loop record what it was told, then freeze it there. Nothing is
        concluded: the workers go on, and the next start adopts their attempts."""
        self._stop.set()
        with self._lock:
            self._detached = True
            loops = list(self._loops)
            pendings = list(self._hub.values())
            self._hub.clear()
        for pending in pendings:
            with pending.lock:  # no batch is half applied
                for file in pending.files.values():
                    file.close()
        reached = [self._freeze(loop) for loop in loops]
        for event in reached:
            event.wait(timeout)
        if self._reaper is not None:
            self._reaper.join(timeout)
            self._reaper = None
        if self._celery is not None:
            self._celery.close()
            self._celery = None

    def _freeze(self, loop: asyncio.AbstractEventLoop) -> threading.Event:
        """Block `loop`'s thread for good after `FLUSH_HOPS` turns; set once it is."""
        reached = threading.Event()

        def hold(hops: int) -> None:
            if hops:
                loop.call_soon(hold, hops - 1)
                return
            reached.set()
            self._frozen.wait()  # never set: the process exits with the thread frozen

        try:
            loop.call_soon_threadsafe(hold, FLUSH_HOPS)
        except RuntimeError:  # the loop has closed: its run ended
            reached.set()
        return reached

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loops.add(loop)

    def detach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._loops.discard(loop)

    @property
    def detached(self) -> bool:
        return self._detached

    # -- adopting after a restart --------------------------------------------------------

    def expect(self, run_id: int) -> int:
        """Remember the live attempts of run `run_id`, which is about to be resumed, with
        their jobs' record (read now: the resume forgets it); the resumed engine's
        `submit` adopts them. How many there are."""
        store = self.server.store
        found = adoptable(store.dispatch.attempts_of_run(run_id), store.runs.get_run(run_id))
        now = time.time()
        for item in found:  # decided before any worker reaches this server (`recovered`)
            row = item.attempt
            if row.state == "running" and (row.lease_until or 0) < now:
                store.dispatch.end_attempt(row.id, "lost", f"worker {row.worker} lost")
        with self._lock:
            for item in found:
                self._adoptable[item.key] = item
        return len(found)

    def adopting(self, run_id: int) -> frozenset[str]:
        """The keys of the jobs of run `run_id` whose attempts wait to be adopted and are
        still live (`expect` ended those whose lease lapsed: their jobs are lost)."""
        with self._lock:
            found = [a for k, a in self._adoptable.items() if k[0] == run_id]
        store = self.server.store.dispatch
        return frozenset(
            a.attempt.job_key
            for a in found
            if (row := store.get_attempt(a.attempt.id)) and row.state in LIVE_ATTEMPT_STATES
        )

    def unexpect(self, run_id: int, reason: str) -> None:
        """End the attempts of run `run_id` still waiting to be adopted (`lost`: their
        workers' calls get 409 and stop the jobs)."""
        with self._lock:
            gone = [a for k, a in self._adoptable.items() if k[0] == run_id]
            for item in gone:
                del self._adoptable[item.key]
        for item in gone:
            self.server.store.dispatch.end_attempt(item.attempt.id, "lost", reason)

    def recovered(self) -> None:
        """The restart's runs are resumed: end every live attempt no run here awaits or
        will adopt (of a run the restart concluded: `lost`, so that its worker stops the
        job), and start the reaper."""
        with self._lock:
            known = set(self._hub) | {a.attempt.id for a in self._adoptable.values()}
        store = self.server.store.dispatch
        for row in store.live_attempts():
            if row.id not in known:
                store.end_attempt(row.id, "lost", RESTARTED)
        self._reaper = threading.Thread(
            target=self._reap_loop, name="stageline-reaper", daemon=True
        )
        self._reaper.start()

    def _awaited(self, attempt_id: str) -> bool:
        with self._lock:
            return self._detached or any(
                a.attempt.id == attempt_id for a in self._adoptable.values()
            )

    def _adoptable_for(self, run_id: int, job_key: str) -> Adoptable | None:
        with self._lock:
            return self._adoptable.get((run_id, job_key))

    def executor(self) -> RemoteExecutor:
        """An executor for one run (its admissions are the run's)."""
        return RemoteExecutor(self)

    # -- sending -------------------------------------------------------------------------

    def live_workers(self) -> list[WorkerRow]:
        """The live workers, read from the store at most once per `reap_every` (every job
        sent asks, and the reaper)."""
        now = time.monotonic()
        with self._lock:
            if self._live is not None and now - self._live[0] < self.settings.reap_every:
                return self._live[1]
        found = workers.live(self.server, live_s=self.settings.live_s)
        with self._lock:
            self._live = (now, found)
        return found

    def served_queues(self) -> set[str]:
        return {q for w in self.live_workers() for q in w.queues}

    def _idle_queues(self, live: Sequence[WorkerRow]) -> set[str]:
        """Queues a live worker with a free slot serves (it would take a task there)."""
        return {q for w in live if len(w.current) < w.concurrency for q in w.queues}

    def _send(self, attempt: AttemptRow) -> None:
        if self._celery is None:
            raise RunError("the dispatcher is not started; no job can be sent to a worker")
        args = p.TaskArgs(attempt.id, attempt.run_id, attempt.job_key)
        try:
            with self._send_lock:
                self._celery.send_task(p.TASK_NAME, kwargs=args.to_dict(), queue=attempt.queue)
        except Exception as err:
            raise RunError(
                f"cannot send job '{attempt.job_key}' to the broker {self.settings.broker}: {err}",
                hint="is the broker running? (`serve --broker URL`)",
            ) from err

    def submit(
        self,
        request: JobRequest,
        sink: JobSink,
        labels: list[str],
        queue: str,
        future: asyncio.Future[JobResult],
    ) -> _Pending:
        """Record a queued attempt of the job and send its task; or adopt the attempt a
        restart left live for it (`expect`)."""
        local = request.local
        found = self._adoptable_for(int(request.run_id), request.job.key)
        store = self.server.store.dispatch
        attempt = found.attempt if found is not None else None
        if attempt is None:
            attempt = store.create_attempt(int(request.run_id), request.job.key, queue, labels)
        pending = _Pending(
            attempt=attempt,
            request=request,
            sink=sink,
            loop=future.get_loop(),
            future=future,
            labels=labels,
            timeout_s=_timeout_s(request),
            logs=LogDir(local.log_dir) if local is not None else None,
        )
        if found is not None:
            self._adopt(pending, found)
            return pending
        with self._lock:
            self._hub[attempt.id] = pending
        try:
            self._send(attempt)
        except RunError:
            with self._lock:
                self._hub.pop(attempt.id, None)
            store.end_attempt(attempt.id, "lost", "not sent: the broker refused it")
            raise
        return pending

    def _adopt(self, pending: _Pending, found: Adoptable) -> None:
        """Await the attempt a restart left live: restore its job's record, then admit
        its worker's calls (they wait on the pending's lock until the record is back).
        Its task is still in the broker when it was not claimed (else it is sent again
        after `RESEND_S`, as any unclaimed task)."""
        log.info("job '%s' of run %s: adopted attempt %s", *found.key[::-1], found.attempt.id)
        store = self.server.store.dispatch
        row = store.get_attempt(found.attempt.id) or found.attempt
        pending.attempt = row
        if row.state == "running":
            pending.claimed_at = row.started_at.timestamp() if row.started_at else time.time()
        with pending.lock:
            with self._lock:  # in the hub before it leaves the adoptable: never in neither
                self._hub[row.id] = pending
                self._adoptable.pop(found.key, None)
            done = restore(found, pending.sink, pending.post)
            pending.open_steps.update(done.open_steps)
            pending.logged.update(done.logged)
        row = store.get_attempt(row.id) or row  # the reaper may have ended it meanwhile
        if row.state in ("queued", "running"):
            return
        if row.state == "lost" and row.worker:
            self._lost(row)
        elif self._drop(row.id) is not None:
            pending.settle(JobResult(Conclusion.FAILURE, reason=row.reason or RESTARTED))

    def cancel(self, pending: _Pending, reason: str) -> None:
        """Ask the attempt's worker to stop (the next heartbeat tells it); an attempt not
        claimed yet ends at once."""
        store = self.server.store.dispatch
        attempt = pending.attempt.id
        pending.cancel = pending.cancel or reason
        store.request_attempt_cancel(attempt, reason)
        if store.end_attempt(attempt, "cancelled", reason, ["queued"]):
            self._drop(attempt)
            pending.hold(None)
            pending.settle(JobResult(Conclusion.CANCELLED, reason=reason))

    def _drop(self, attempt_id: str) -> _Pending | None:
        with self._lock:
            return self._hub.pop(attempt_id, None)

    def forget(self, pending: _Pending) -> None:
        with self._lock:
            if self._hub.get(pending.attempt.id) is pending:
                del self._hub[pending.attempt.id]

    def pending(self, attempt_id: str) -> _Pending | None:
        with self._lock:
            return self._hub.get(attempt_id)

    # -- the agent API -------------------------------------------------------------------

    def heartbeat(self, name: str, beat: p.WorkerBeat) -> p.BeatReply:
        """Register worker `name`, extend its attempts' leases; what it must stop."""
        store = self.server.store.dispatch
        until = time.time() + self.settings.lease_s
        rows = store.extend_leases(name, beat.attempts, until)
        current = [{"attempt": r.id, "run_id": r.run_id, "job_key": r.job_key} for r in rows]
        store.worker_beat(
            name,
            queues=beat.queues,
            concurrency=beat.concurrency,
            hostname=beat.hostname,
            pid=beat.pid,
            version=beat.version,
            current=current,
        )
        mine = {r.id for r in rows}
        return p.BeatReply(
            cancel={r.id: r.cancel_requested for r in rows if r.cancel_requested},
            stale=[a for a in beat.attempts if a not in mine],
        )

    def claim(self, attempt_id: str, worker: str) -> p.ClaimReply:
        """Admit `worker` to run the attempt, once; `StaleAttempt` otherwise."""
        store = self.server.store
        pending = self.pending(attempt_id)
        if pending is None and self._awaited(attempt_id):
            raise NotYet(f"attempt {attempt_id} is not adopted yet; try again")
        if pending is None:  # a task of a dead server's, or of a job that has ended
            store.dispatch.end_attempt(attempt_id, "lost", RESTARTED, ["queued"])
            raise StaleAttempt(f"attempt {attempt_id} is not waiting for a worker")
        claimed = store.dispatch.claim(attempt_id, worker, time.time() + self.settings.lease_s)
        if claimed is None:
            raise StaleAttempt(f"attempt {attempt_id} was claimed already, or has ended")
        with pending.lock:
            pending.attempt = claimed
            pending.claimed_at = time.time()
        pending.hold(None)
        pending.post(pending.sink.event, "job.runner", {"name": worker})
        data = pending.request.to_dict()
        data["local"] = None
        return p.ClaimReply(request=data, repo=self._repo_name(claimed.run_id))

    def _repo_name(self, run_id: int) -> str:
        """The name of run `run_id`'s repository ("" for none), read once per run."""
        with self._lock:
            name = self._repos.get(run_id)
        if name is not None:
            return name
        store = self.server.store.server
        link = store.run_link(run_id)
        repo = store.get_repo_by_id(link.repo_id) if link is not None else None
        name = repo.name if repo is not None else ""
        with self._lock:
            if len(self._repos) >= REPO_NAMES:
                self._repos.clear()
            self._repos[run_id] = name
        return name

    def events(self, attempt_id: str, batch: p.EventBatch) -> p.BatchReply:
        """Apply a batch once, in order, onto the engine's sink; `StaleAttempt` when the
        attempt is not the worker's running one."""
        pending = self.pending(attempt_id)
        if pending is None and self._awaited(attempt_id):
            raise NotYet(f"attempt {attempt_id} is not adopted yet; try again")
        if pending is None:
            raise StaleAttempt(f"attempt {attempt_id} is not running here")
        with pending.lock:
            applied = self.server.store.dispatch.apply_batch(attempt_id, batch.worker, batch.seq)
            if applied is None:
                raise StaleAttempt(f"attempt {attempt_id} is not running on {batch.worker}")
            if applied:
                calls: list[_Call] = []
                try:
                    for event in batch.events:
                        self._replay(pending, event, calls)
                except (KeyError, TypeError, ValueError) as err:
                    raise BadBatch(f"attempt {attempt_id}: a malformed event: {err!r}") from None
                finally:  # one wake-up of the run's loop per batch, not one per event
                    if calls:
                        pending.post(_call_all, calls)
        cancel = pending.cancel or pending.attempt.cancel_requested
        return p.BatchReply(applied=applied, cancel=cancel)

    def finish(self, attempt_id: str, finish: p.Finish) -> None:
        """The attempt's result: the job ends with it; `StaleAttempt` when the attempt
        is not the worker's running one."""
        pending = self.pending(attempt_id)
        if pending is None and self._awaited(attempt_id):
            raise NotYet(f"attempt {attempt_id} is not adopted yet; try again")
        store = self.server.store.dispatch
        if pending is None or not store.finish_attempt(attempt_id, finish.worker):
            raise StaleAttempt(f"attempt {attempt_id} is not running on {finish.worker}")
        self._drop(attempt_id)
        with pending.lock:
            try:
                result = JobResult.from_dict(finish.result)
            except (KeyError, TypeError, ValueError) as err:
                result = JobResult(Conclusion.FAILURE, reason=f"the worker's result: {err!r}")
            for step in result.steps:
                self._local_log(pending, step)
            pending.settle(result)

    def _replay(self, pending: _Pending, event: Mapping[str, Any], calls: list[_Call]) -> None:
        """Write a `write` event's text to the step's log; add the sink calls of the
        others to `calls`, which the run's loop makes in order."""
        kind = event.get("kind")
        sink = pending.sink
        if kind == "write":
            file = self._log_file(pending, int(event["index"]))
            if file is not None:
                file.write(str(event["text"]))
        elif kind == "log":
            calls.append((sink.log, (int(event["index"]), str(event["line"]))))
        elif kind == "step_started":
            index = int(event["index"])
            file = self._log_file(pending, index)
            pending.open_steps[index] = str(event["name"])
            where = file.location if file is not None else None
            calls.append((sink.step_started, (index, str(event["name"]), where)))
        elif kind == "step_finished":
            step = StepResult.from_dict(dict(event["result"]))
            self._local_log(pending, step)
            pending.open_steps.pop(step.index, None)
            calls.append((sink.step_finished, (step,)))
        elif kind == "annotation":
            annotation = Annotation.from_dict(dict(event["annotation"]))
            calls.append((sink.annotation, (annotation,)))
        elif kind == "event":
            calls.append((sink.event, (str(event["name"]), dict(event.get("data") or {}))))
        else:
            log.warning("attempt %s: unknown event kind %r", pending.attempt.id, kind)

    def _log_file(self, pending: _Pending, index: int) -> LogFile | None:
        if pending.logs is None:
            return None
        file = pending.files.get(index)
        if file is None:
            file = pending.logs.open(pending.request.job.key, index)
            pending.files[index] = file
        return file

    def _local_log(self, pending: _Pending, step: StepResult) -> None:
        """Say where the server keeps the step's log (the worker's path means nothing
        here): the file its `write` events went to, closed now, and its size."""
        file = pending.files.pop(step.index, None)
        if file is not None:
            file.close()
            pending.logged[step.index] = (file.location, file.size)
        step.log_path, step.log_size = pending.logged.get(step.index, (None, None))

    # -- the reaper ----------------------------------------------------------------------

    def _reap_loop(self) -> None:
        try:
            while not self._stop.wait(self.settings.reap_every):
                try:
                    self.reap()
                except Exception:  # the reaper must outlive a store hiccup
                    log.exception("the dispatcher's reaper failed")
        finally:
            self.server.release()

    def reap(self, now: float | None = None) -> None:
        """One pass (module doc): lost leases, unserved queues, lost tasks (sent again),
        the timeout backstop."""
        at = time.time() if now is None else now
        store = self.server.store.dispatch
        for row in store.expired_leases(at):
            if store.end_attempt(row.id, "lost", f"worker {row.worker} lost", ["running"]):
                self._lost(row)
        with self._lock:
            pendings = list(self._hub.values())
        if not pendings:
            return
        live = self.live_workers()
        served = {q for w in live for q in w.queues}
        idle = self._idle_queues(live)
        waited = {
            pending.attempt.queue
            for pending in pendings
            if pending.claimed_at is None
            and pending.attempt.queue in idle
            and at - pending.sent_at >= self.settings.resend_s
        }
        drained = self._drained(waited) if waited else set()
        for pending in pendings:
            if pending.claimed_at is None:
                self._check_served(pending, served, at)
                self._check_sent(pending, drained, at)
            elif pending.timeout_s is not None:
                self._check_timeout(pending, at)

    def _drained(self, queues: set[str]) -> set[str]:
        """The queues among `queues` whose broker holds no task: an unclaimed attempt of
        one is not waiting its turn behind others, its task was lost. (Checking the
        broker, not only a worker's free slot, keeps a long queue's tasks from being sent
        again while they wait.)"""
        if self._celery is None:
            return set()
        empty: set[str] = set()
        try:
            with self._celery.connection_for_write() as conn:
                for queue in sorted(queues):
                    channel = conn.channel()
                    try:
                        count = channel.queue_declare(queue=queue, passive=True).message_count
                    except conn.channel_errors:  # no such queue: nothing in it
                        count = 0
                    finally:
                        channel.close()
                    if count == 0:
                        empty.add(queue)
        except Exception as err:  # the broker is away: send nothing again this pass
            log.warning("cannot read the broker's queues: %s", err)
            return set()
        return empty

    def _lost(self, row: AttemptRow) -> None:
        pending = self._drop(row.id)
        if pending is None:
            return
        reason = f"worker {row.worker} lost"
        log.warning("job '%s' of run %s: %s", row.job_key, row.run_id, reason)
        with pending.lock:
            self._end_open_steps(pending, reason)
            if self.settings.retry_lost_jobs and row.number == 1:
                self._retry(pending, row, reason)
                return
            pending.settle(JobResult(Conclusion.FAILURE, reason=reason))

    def _retry(self, pending: _Pending, row: AttemptRow, reason: str) -> None:
        store = self.server.store.dispatch
        again = store.create_attempt(row.run_id, row.job_key, row.queue, row.labels, number=2)
        pending.attempt = again
        pending.claimed_at = None
        pending.unserved_since = None
        pending.sent_at = time.time()
        pending.post(pending.sink.event, "job.retried", {"reason": reason, "attempt": again.id})
        with self._lock:
            self._hub[again.id] = pending
        try:
            self._send(again)
        except RunError as err:
            self._drop(again.id)
            store.end_attempt(again.id, "lost", str(err))
            pending.settle(JobResult(Conclusion.FAILURE, reason=f"{reason}; {err}"))

    def _end_open_steps(self, pending: _Pending, reason: str) -> None:
        now = time.time()
        for index, name in sorted(pending.open_steps.items()):
            step = StepResult(index, name, Conclusion.FAILURE, Conclusion.FAILURE, finished_at=now)
            file = self._log_file(pending, index)
            if file is not None:
                file.write(reason + "\n")
            pending.post(pending.sink.log, index, reason)
            self._local_log(pending, step)
            pending.post(pending.sink.step_finished, step)
        pending.open_steps.clear()

    def _check_served(self, pending: _Pending, served: set[str], at: float) -> None:
        if pending.attempt.queue in served:
            pending.unserved_since = None
            pending.hold(None)
            return
        if pending.unserved_since is None:
            pending.unserved_since = at
        text = no_worker_text(pending.labels)
        pending.hold(text)
        if at - pending.unserved_since < self.settings.no_worker_timeout:
            return
        store = self.server.store.dispatch
        if store.end_attempt(pending.attempt.id, "cancelled", text, ["queued"]):
            self.forget(pending)
            pending.settle(JobResult(Conclusion.FAILURE, reason=text))

    def _check_sent(self, pending: _Pending, drained: set[str], at: float) -> None:
        row = pending.attempt
        if row.queue not in drained or at - pending.sent_at < self.settings.resend_s:
            return
        found = self.server.store.dispatch.get_attempt(row.id)
        if found is None or found.state != "queued":  # claimed meanwhile, or ended
            return
        log.info("job '%s' of run %s: its task was not taken; sent again", row.job_key, row.run_id)
        pending.sent_at = at
        try:
            self._send(row)
        except RunError as err:
            log.warning("%s", err.message)

    def _check_timeout(self, pending: _Pending, at: float) -> None:
        assert pending.timeout_s is not None and pending.claimed_at is not None
        if at < pending.claimed_at + pending.timeout_s + self.settings.lease_s:
            return
        minutes = pending.timeout_s / 60
        reason = f"the job exceeded its timeout of {minutes:g} minutes"
        store = self.server.store.dispatch
        pending.cancel = pending.cancel or reason
        store.request_attempt_cancel(pending.attempt.id, reason)
        if store.end_attempt(pending.attempt.id, "lost", reason, ["running"]):
            self.forget(pending)
            with pending.lock:
                self._end_open_steps(pending, reason)
                pending.settle(JobResult(Conclusion.FAILURE, reason=reason))


def _timeout_s(request: JobRequest) -> float | None:
    from stageline.expressions import evaluate_template

    value: Any = request.job.timeout_minutes
    try:
        if isinstance(value, str):
            value = evaluate_template(value, request.contexts)
        return float(value) * 60 if value is not None else None
    except (StagelineError, TypeError, ValueError):  # the worker reports a bad value
        return None


class RemoteExecutor:
    """`executors.base.Executor` over a `Dispatcher`: one per run (ADR 0012)."""

    name = "celery"

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._admissions = Admissions()

    async def start(self) -> None:
        """Tell the dispatcher the run's loop (a restart freezes it: `detach`)."""
        self.dispatcher.attach_loop(asyncio.get_running_loop())

    async def close(self) -> None:
        self.dispatcher.detach_loop(asyncio.get_running_loop())

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: CancelToken) -> JobResult:
        self._admissions.admit(request)
        try:
            labels = labels_of(request.job.runs_on, request.contexts)
            queue = queue_for(labels, self.dispatcher.settings.queues)
        except RunError as err:
            return JobResult(Conclusion.FAILURE, reason=str(err))
        except Exception as err:  # an expression in runs-on that cannot be evaluated
            return JobResult(Conclusion.FAILURE, reason=f"runs-on: {err}")
        if cancel.is_set():
            return JobResult(Conclusion.CANCELLED, reason="cancelled before it was sent")
        future: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        dispatcher = self.dispatcher
        if dispatcher.detached:  # the server stops for a restart: the next start runs it
            return await future
        # On the run's own thread, with its store (a short write, then one publish).
        try:
            pending = dispatcher.submit(request, sink, labels, queue, future)
        except RunError as err:  # the broker refused it, or the server is stopping
            return JobResult(Conclusion.FAILURE, reason=err.message)
        if pending.claimed_at is None and queue not in dispatcher.served_queues():
            pending.unserved_since = time.time()
            pending.hold(no_worker_text(labels))
        watcher: asyncio.Future[Any] = asyncio.ensure_future(cancel.wait())
        either: set[asyncio.Future[Any]] = {future, watcher}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                dispatcher.cancel(pending, "cancelled")
            return await future
        finally:
            watcher.cancel()
            dispatcher.forget(pending)


__all__ = [
    "NO_WORKER_TIMEOUT_S",
    "REAP_EVERY_S",
    "BadBatch",
    "DispatchSettings",
    "Dispatcher",
    "NotYet",
    "RemoteExecutor",
    "StaleAttempt",
    "labels_of",
    "no_worker_text",
    "parse_queue_map",
    "queue_for",
]
