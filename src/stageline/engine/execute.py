"""Running prepared runs in one event loop, with Ctrl-C, SIGTERM and SIGHUP handled.

A signal cancels every run of the process: executors get their cancel events
and kill their process trees, unstarted jobs end as cancelled, and each run's
record is completed before `execute` returns. The exit code a CLI should use
then is 128 + the signal number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
SIGHUP is a closed terminal or a lost SSH session: without a handler it would
kill the engine and leave its steps running (they run in their own sessions).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stageline.engine import events as ev
from stageline.engine.hooks import AfterJob, Gatekeeper
from stageline.engine.scheduler import RunOutcome, RunSpec, Scheduler, Slots
from stageline.executors.base import Executor
from stageline.store.db import Store

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True, slots=True)
class Execution:
    outcomes: list[RunOutcome]
    #: The signal that cancelled the runs, if one did.
    signal: int | None = None

    @property
    def exit_code(self) -> int:
        if self.signal is not None:
            return 128 + self.signal
        return 0 if all(o.conclusion == "success" for o in self.outcomes) else 1


async def execute(
    specs: list[RunSpec],
    store: Store,
    executor: Executor,
    *,
    parallel: int,
    observer_for: Callable[[RunSpec], ev.Observer | None] = lambda spec: None,
    gatekeeper: Gatekeeper | None = None,
    after_job: AfterJob | None = None,
    handle_signals: bool = True,
) -> Execution:
    """Run every spec concurrently, sharing one `--parallel` bound (`handle_signals`:
    see `run_all`)."""
    slots = Slots(parallel)
    schedulers = [
        Scheduler(
            store,
            executor,
            spec,
            observer=observer_for(spec),
            slots=slots,
            gatekeeper=gatekeeper,
            after_job=after_job,
        )
        for spec in specs
    ]
    return await run_all(schedulers, handle_signals=handle_signals)


async def run_all(schedulers: Sequence[Scheduler], *, handle_signals: bool = True) -> Execution:
    """Run the schedulers' runs to their end in this loop; SIGINT/SIGTERM/SIGHUP cancel them all
    (see module doc). A resumed run's scheduler runs through here as a new one does.
    `handle_signals=False`: a loop outside the main thread (the server's run threads),
    which cannot take signals; the process stops its runs itself.
    Each executor is started before the first job and closed after the last (its
    lifecycle, `executors.base`), whatever happens meanwhile."""
    loop = asyncio.get_running_loop()
    executors = list({id(s.executor): s.executor for s in schedulers}.values())
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received:
            received.append(signum)
        for scheduler in schedulers:
            scheduler.cancel(f"received {signal.Signals(signum).name}")

    signals = SIGNALS if handle_signals else ()
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        for executor in executors:
            await executor.start()
        outcomes = await asyncio.gather(*(s.run() for s in schedulers))
    finally:
        for executor in executors:
            await executor.close()
        for signum in signals:
            loop.remove_signal_handler(signum)
    return Execution(list(outcomes), received[0] if received else None)
