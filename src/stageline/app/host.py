"""`RunHost`: the team server runs the engine in its own process, one thread per start.

Each `start` (the runs one event starts) or resume gets a worker thread running the
engine's own event loop (`app.runs.drive`, without signal handlers: only the main
thread can take them; the server stops its runs itself in `shutdown`). The runs'
`repo_path` is the repository's mirror, so runs are numbered per registered
repository, and jobs check out from it; `.stageline.yml` is read from the checkout
the runs were planned from.

After a restart, `recover` completes the runs a dead server left mid-job (with the
reason: which process ended) and resumes in new threads the runs that were waiting
at a gate, so a decision recorded after the restart is taken up. `roll_back` rolls an
environment back in a worker thread too (the API answers 202 with the rollback's record
to follow). `shutdown` cancels
the runs that are running and waits for their record to be completed; a run waiting
at a gate is left waiting, for the next start's `recover`.

With workers (a `Dispatcher`, ADR 0012) a restart loses no job: `shutdown` leaves the
runs as they are (the dispatcher froze them), and `recover` resumes every run the
previous server was driving, its jobs' live attempts adopted (`Dispatcher.expect`)
rather than sent again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app import repos
from stageline.app.accounts import audit
from stageline.app.dispatch import NOT_RESUMED, RESTARTED
from stageline.app.runs import Cancelled
from stageline.errors import RunError, StagelineError

if TYPE_CHECKING:
    from stageline.app.dispatch import Dispatcher
    from stageline.app.serverdata import ServerData
    from stageline.engine.events import EngineEvent
    from stageline.engine.scheduler import RunSpec
    from stageline.engine.setup import Prepared
    from stageline.executors.base import Executor
    from stageline.store.server_records import RepoRow

log = logging.getLogger(__name__)

#: Told every engine event of the host's runs (`RunHost.listen`).
Listener = Callable[["EngineEvent"], None]
#: How long `start` waits for its runs to be recorded before it gives up on them.
START_TIMEOUT_S = 60.0
#: The reason a run cancelled by `shutdown` carries.
SHUTDOWN_REASON = "the server was shut down"


@dataclass(frozen=True, slots=True)
class Recovered:
    """What `recover` found: runs completed because their server died, runs resumed."""

    reaped: list[int]
    resumed: list[int]


@dataclass(frozen=True, slots=True)
class _Link:
    repo_id: int
    trigger_id: int | None
    started_by: str
    author_email: str


class _Started:
    """Collects the ids of a thread's runs (or its rollback) as they are recorded; `start`
    (`roll_back`) waits on it."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.run_ids: list[int] = []
        self.error: BaseException | None = None
        self.event = threading.Event()

    def add(self, run_id: int) -> None:
        self.run_ids.append(run_id)
        if len(self.run_ids) >= self.expected:
            self.event.set()


class _Recorded:
    """The observer that links a new run to its repository as soon as it is recorded."""

    def __init__(self, host: RunHost, link: _Link | None, started: _Started) -> None:
        self.host = host
        self.link = link
        self.started = started

    def handle(self, event: EngineEvent) -> None:
        for listener in self.host._listening():
            try:
                listener(event)
            except Exception:  # a broken listener never fails a run
                log.exception("a run listener failed")
        if event.kind != "run.started":
            return
        run_id = int(event.run_id)
        if self.link is not None:
            self.host.server.store.server.link_run(
                run_id,
                self.link.repo_id,
                self.link.trigger_id,
                self.link.started_by,
                self.link.author_email,
            )
        self.host._running(run_id, threading.current_thread())
        self.started.add(run_id)


class RunHost:
    """Runs the server's runs in worker threads (see the module doc). Thread-safe."""

    def __init__(
        self,
        server: ServerData,
        *,
        executor: str = "local",
        parallel: int | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.server = server
        self.executor = executor
        #: With one, every job goes to a worker (`--executor celery`, ADR 0012).
        self.dispatcher = dispatcher
        self.parallel = parallel
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._workers: set[threading.Thread] = set()
        self._listeners: list[Listener] = []
        self._closing = False

    # -- starting ------------------------------------------------------------------------

    def start(
        self,
        prepared: Prepared,
        repo: RepoRow,
        started_by: str,
        trigger_id: int | None = None,
        author_email: str = "",
    ) -> list[int]:
        """Start the prepared runs of `repo` (planned from a checkout, `repos.checkout`);
        their ids once they are recorded and linked. Raises `RunError` when none could be
        recorded (the reason is the engine's), or while the server shuts down."""
        if not prepared.specs:
            return []
        specs = [dataclasses.replace(s, repo_dir=repo.mirror_path) for s in prepared.specs]
        link = _Link(repo.id, trigger_id, started_by, author_email)
        return self._spawn(specs, prepared.facts.root, link, None)

    def _spawn(
        self, specs: list[RunSpec], root: Path, link: _Link | None, resume_id: int | None
    ) -> list[int]:
        with self._lock:
            if self._closing:
                raise RunError("the server is shutting down; no run can start")
        started = _Started(len(specs))
        thread = threading.Thread(
            target=self._run,
            args=(specs, root, link, resume_id, started),
            name=f"stageline-run-{resume_id or 'new'}",
            daemon=True,  # a run waiting at a gate must not hold the process at exit
        )
        with self._lock:
            self._workers.add(thread)
        thread.start()
        started.event.wait(START_TIMEOUT_S)
        if not started.run_ids:
            if started.error is not None:
                if isinstance(started.error, StagelineError):
                    raise started.error
                raise RunError(f"the run could not start: {started.error}")
            raise RunError("the run was not recorded in time")
        return list(started.run_ids)

    def _run(
        self,
        specs: list[RunSpec],
        root: Path,
        link: _Link | None,
        resume_id: int | None,
        started: _Started,
    ) -> None:
        from stageline.app.context import Context
        from stageline.app.runs import drive, needs_delivery

        try:
            ctx = Context(root, self.server.store)
            drive(
                ctx,
                specs[0].repo_dir,
                specs,
                executor=self.job_executor(),
                parallel=self.parallel,
                observer_for=lambda spec: _Recorded(self, link, started),
                prompt=False,
                delivery=resume_id is not None or needs_delivery(specs, root),
                resume_id=resume_id,
                handle_signals=False,
                adopted=self._adopting(resume_id),
            )
        except BaseException as err:  # a thread must not die silently
            started.error = err
            log.exception("run thread failed")
        finally:
            started.event.set()
            if self.dispatcher is not None and resume_id is not None:
                self.dispatcher.unexpect(resume_id, NOT_RESUMED)
            with self._lock:
                for run_id in started.run_ids:
                    self._threads.pop(run_id, None)
            self.server.release()
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _adopting(self, resume_id: int | None) -> frozenset[str]:
        """The jobs of the resumed run whose live attempts the dispatcher will adopt."""
        if self.dispatcher is None or resume_id is None:
            return frozenset()
        return self.dispatcher.adopting(resume_id)

    def job_executor(self) -> str | Executor | None:
        """What runs the jobs of one run or rollback: with workers a `RemoteExecutor` of
        the dispatcher's; else the executor's name, None for "local", which lets each
        repository's `.stageline.yml` choose (`executor: sandbox`; `app.runs.choose_executor`)."""
        if self.dispatcher is not None:
            return self.dispatcher.executor()
        return None if self.executor == "local" else self.executor

    def _running(self, run_id: int, thread: threading.Thread) -> None:
        with self._lock:
            self._threads[run_id] = thread

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every engine event of every run this host runs (on the run's
        own thread: it must be quick and thread-safe, e.g. hand the event to an event loop
        with `call_soon_threadsafe`); returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def _listening(self) -> list[Listener]:
        with self._lock:
            return list(self._listeners)

    def active(self) -> list[int]:
        """The ids of the runs this host is running now."""
        with self._lock:
            return sorted(self._threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every run thread has ended; False if some still run at `timeout`."""
        with self._lock:
            workers = list(self._workers)
        for thread in workers:
            thread.join(timeout)
        return not any(t.is_alive() for t in workers)

    # -- acting on runs ------------------------------------------------------------------

    def cancel(self, run_id: int, by: str) -> Cancelled:
        """Stop run `run_id`: ask its thread (it reads the request on its next heartbeat),
        or complete its record as cancelled when nothing runs it. Audited."""
        from stageline.runs.states import ACTIVE_STATUSES, Conclusion

        store = self.server.store
        run = store.runs.get_run(run_id).run
        if run.status not in ACTIVE_STATUSES:
            raise RunError(f"run {run_id} has ended; nothing to cancel")
        reason = f"cancelled by {by}" if by else "cancelled on request"
        if store.runs.run_alive(run_id) and store.runs.request_cancel(run_id, reason):
            how: Cancelled = Cancelled(run_id, "requested")
        else:
            store.runs.finish_orphan(run_id, reason, Conclusion.CANCELLED)
            how = Cancelled(run_id, "completed")
        audit(self.server, by, "run.cancel", str(run_id), {"how": how.how})
        return how

    def rerun(self, run_id: int, failed_only: bool, by: str) -> list[int]:
        """New runs of run `run_id`'s workflow at its commit, with its event. `failed_only`:
        only its jobs that did not succeed, with the jobs they need (which run again too:
        a new run does not borrow another run's outputs). Audited."""
        from stageline.app.runs import prepare
        from stageline.engine.setup import RunOptions
        from stageline.plan.model import plan_from_dict

        store = self.server.store
        link = store.server.run_link(run_id)
        detail = store.runs.get_run(run_id)
        found = store.runs.find_run(run_id)
        if link is None or found is None:
            raise RunError(f"run {run_id} is not a run of a registered repository")
        repo = store.server.get_repo_by_id(link.repo_id)
        if repo is None:
            raise RunError(f"the repository of run {run_id} is no longer registered")
        plan = plan_from_dict(found.plan)
        jobs: list[str] = []
        if failed_only:
            jobs = sorted({j.job_id for j in detail.jobs if j.conclusion != "success"})
            if not jobs:
                raise RunError(f"run {run_id} has no failed jobs to re-run")
        root = repos.checkout(self.server, repo, detail.run.sha, plan.event.ref)
        event_file = root.parent / f"event-{run_id}.json"
        event_file.write_text(json.dumps(plan.event.payload))
        options = RunOptions(
            cwd=root,
            workflow=plan.workflow_path,
            jobs=jobs,
            event=plan.event.name,
            event_path=event_file,
            ref=plan.event.ref or None,
            actor=by or plan.event.actor or None,
            inputs={k: str(v) for k, v in plan.event.inputs.items()},
        )
        prepared = prepare(options)
        started = self.start(prepared, repo, by, link.trigger_id, link.author_email)
        audit(
            self.server, by, "run.rerun", str(run_id), {"failed_only": failed_only, "runs": started}
        )
        return started

    def roll_back(self, repo: RepoRow, environment: str, *, to: int | None, who: str) -> int | None:
        """Roll `environment` of `repo` back in a worker thread (`served.rollback`, audited:
        by the run paused there, else here), so no request waits for it; the id of the
        rollback's record once it exists, to follow it by (None: none was recorded within
        `START_TIMEOUT_S`, as when an interrupted rollback is completed first). Raises what
        the rollback raised if it ended before recording one (nothing deployed there, no
        such deployment, artifacts gone...)."""
        with self._lock:
            if self._closing:
                raise RunError("the server is shutting down; no rollback can start")
        recorded = _Started(1)
        thread = threading.Thread(
            target=self._roll_back,
            args=(repo, environment, to, who, recorded),
            name=f"stageline-rollback-{environment}",
            daemon=True,
        )
        with self._lock:
            self._workers.add(thread)
        thread.start()
        recorded.event.wait(START_TIMEOUT_S)
        if recorded.run_ids:
            return recorded.run_ids[0]
        if isinstance(recorded.error, StagelineError):
            raise recorded.error
        if recorded.error is not None:
            raise RunError(f"the rollback could not start: {recorded.error}")
        return None

    def _roll_back(
        self, repo: RepoRow, environment: str, to: int | None, who: str, recorded: _Started
    ) -> None:
        from stageline.app import served

        try:
            served.rollback(
                self.server,
                repo,
                environment,
                to=to,
                who=who,
                executor=self.job_executor(),
                started=recorded.add,
            )
        except StagelineError as err:  # recorded (a failed rollback) or refused: said so
            recorded.error = err
        except BaseException as err:  # a thread must not die silently
            recorded.error = err
            log.exception("rollback thread failed")
        finally:
            recorded.event.set()
            self.server.release()
            with self._lock:
                self._workers.discard(threading.current_thread())

    # -- the server's life ---------------------------------------------------------------

    def recover(self) -> Recovered:
        """What a dead server left: complete runs it was running (with the reason), resume
        the runs waiting at a gate (see the module doc)."""
        from stageline.runs.states import Status

        store = self.server.store
        resumed = self._adopt_runs() if self.dispatcher is not None else []
        reaped = store.runs.reap_orphans()
        if self.dispatcher is not None:
            self.dispatcher.recovered()
        for run in store.runs.list_runs(limit=100_000):
            if run.status != Status.WAITING or store.runs.run_alive(run.id):
                continue
            if store.server.run_link(run.id) is None:  # not a run of this server's
                continue
            try:
                resumed += self._resume(run.id)
            except StagelineError as err:
                log.warning("run %s could not be resumed: %s", run.id, err)
        return Recovered(reaped, resumed)

    def _adopt_runs(self) -> list[int]:
        """Resume every run a dead server with workers was driving, its jobs' live
        attempts adopted (module doc); a run that cannot be resumed is left to be
        concluded as without workers."""
        from stageline.runs.states import ACTIVE_STATUSES

        assert self.dispatcher is not None
        store = self.server.store
        resumed: list[int] = []
        for run in store.runs.list_runs(limit=100_000):
            if run.status not in ACTIVE_STATUSES or store.runs.run_alive(run.id):
                continue
            if store.server.run_link(run.id) is None:  # not a run of this server's
                continue
            adopted = self.dispatcher.expect(run.id)
            try:
                resumed += self._resume(run.id)
            except StagelineError as err:
                log.warning("run %s could not be resumed: %s", run.id, err)
                self.dispatcher.unexpect(run.id, RESTARTED)
                continue
            log.info("run %s resumed after the restart, %d attempts adopted", run.id, adopted)
        return resumed

    def resume(self, run_id: int, by: str) -> int:
        """Resume run `run_id`, which stopped while it waited and no thread runs, in a new
        thread as `recover` does; raises `RunError` when it cannot. Audited."""
        [resumed] = self._resume(run_id)
        audit(self.server, by, "run.resume", str(run_id))
        return resumed

    def _resume(self, run_id: int) -> list[int]:
        from stageline.app.runs import resumed_spec
        from stageline.engine.resume import resumable

        store = self.server.store
        link = store.server.run_link(run_id)
        repo = store.server.get_repo_by_id(link.repo_id) if link else None
        found = store.runs.find_run(run_id)
        if repo is None or found is None:
            raise RunError(f"run {run_id} is not a run of a registered repository")
        resumable(store, run_id)
        root = repos.checkout(self.server, repo, found.sha, found.ref)
        spec = resumed_spec(root, repo.mirror_path, found.plan, None, None, None)
        return self._spawn([spec], root, None, run_id)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel the runs that are running and wait (up to `timeout`) for their record to
        be completed; runs waiting at a gate stay waiting. With workers, every run is
        left for the next start to resume (module doc)."""
        from stageline.runs.states import Status

        with self._lock:
            self._closing = True
            threads = dict(self._threads)
        if self.dispatcher is not None:
            return
        store = self.server.store
        waited: list[threading.Thread] = []
        for run_id, thread in threads.items():
            status, _ = store.runs.run_state(run_id)
            if status == Status.WAITING:
                continue
            store.runs.request_cancel(run_id, SHUTDOWN_REASON)
            waited.append(thread)
        for thread in waited:
            thread.join(timeout)


__all__ = ["SHUTDOWN_REASON", "START_TIMEOUT_S", "Listener", "Recovered", "RunHost"]
