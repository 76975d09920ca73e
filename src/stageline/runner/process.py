"""Run one step's process in its own process group and stream its output line by line.

Guarantees:

* the process starts in a new session (its own process group), so a timeout or a cancel
  kills the whole tree: SIGTERM to the group, SIGKILL after `kill_grace` seconds;
* it is started by a spawn thread (`SPAWNER`), so the event loop goes on with other
  jobs while the child execs its program (`_start` is where an argv prefix would go);
* the group dies with this process, however it ends (SIGKILL included): it is
  registered with this process's `runner.watchdog` until the job has killed it, and
  marked in its environment for the watchdog to find should it die before that;
* stdout and stderr are merged, decoded as UTF-8 (invalid bytes replaced) and split into
  lines; a line longer than `MAX_LINE` bytes comes in pieces, in linear time and bounded
  memory; a final unterminated line is delivered too;
* the step ends when its main process exits. Background children that keep the pipe open
  (``./server &``) do not hold the step: their later output is still drained (so they do
  not die of SIGPIPE) and handed to `on_late_line`, until `ProcessGroups.kill_all` at the
  end of the job kills them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stageline.runner.watchdog import WATCHDOG

if TYPE_CHECKING:
    from stageline.runner.contract import CancelToken

DRAIN_AFTER_EXIT = 0.2
#: The longest piece of a line delivered at once, in bytes (GitHub shows long lines in
#: 64 KB chunks too); longer lines arrive in several pieces.
MAX_LINE = 64 * 1024

#: Receives a line (without its newline) and whether more of the same line follows.
LineSink = Callable[[str, bool], None]


#: Threads that start steps' processes (created on first use, again after a fork).
SPAWN_THREADS = 4


class _Spawner:
    """Starts processes off the event loop's thread. `fork_exec` (vfork) waits until the
    child has exec'd its program, 1-2.5 ms a step, and releases the GIL meanwhile
    (Python 3.11.6+): done in a thread, that wait overlaps the loop's other work (other
    jobs' records, workspaces, outputs) instead of stalling it."""

    def __init__(self) -> None:
        self._pid = -1
        self._pool: ThreadPoolExecutor | None = None

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():  # a forked child has no threads
            self._pid = os.getpid()
            self._pool = ThreadPoolExecutor(SPAWN_THREADS, thread_name_prefix="stageline-spawn")
        return self._pool


SPAWNER = _Spawner()


@dataclass(slots=True)
class ProcessOutcome:
    exit_code: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    #: The process could not be started (OSError text).
    error: str | None = None


@dataclass(slots=True)
class ProcessGroups:
    """Process groups a job started and pipe readers still draining; killed at job end."""

    kill_grace: float = 5.0
    groups: set[int] = field(default_factory=set)
    readers: set[asyncio.Task[None]] = field(default_factory=set)

    async def kill_all(self) -> None:
        """Kill every group the job started (all at once, one grace period in total) and
        stop the readers still draining their pipes."""
        await asyncio.gather(*(kill_group(pgid, self.kill_grace) for pgid in self.groups))
        for pgid in self.groups:
            WATCHDOG.forget(pgid)
        self.groups.clear()
        for reader in list(self.readers):
            reader.cancel()
        for reader in list(self.readers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        self.readers.clear()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def kill_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    delay = 0.005
    while loop.time() < deadline:
        if not _group_alive(pgid):
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


async def _read_lines(stream: asyncio.StreamReader, on_line: LineSink) -> None:
    """Deliver the stream line by line, in linear time and bounded memory: a line longer
    than `MAX_LINE` bytes comes in pieces (``more=True`` on all but its last), cut between
    UTF-8 characters, so every byte arrives and none is held twice."""
    buffer = bytearray()
    while True:
        chunk = await stream.read(1 << 16)
        if not chunk:
            break
        scanned = len(buffer)  # the buffer before this chunk holds no newline
        buffer += chunk
        while (end := buffer.find(b"\n", scanned)) >= 0:
            while end > MAX_LINE:  # a long line's end came in this chunk: pieces first
                cut = _cut(buffer)
                on_line(_text(buffer[:cut]), True)
                del buffer[:cut]
                end -= cut
            on_line(_text(buffer[:end].removesuffix(b"\r")), False)
            del buffer[: end + 1]  # O(1) at the front of a bytearray
            scanned = 0
        while len(buffer) > MAX_LINE:
            cut = _cut(buffer)
            on_line(_text(buffer[:cut]), True)
            del buffer[:cut]
    if buffer:
        on_line(_text(buffer.removesuffix(b"\r")), False)


def _cut(buffer: bytearray) -> int:
    """Where to cut a long line near `MAX_LINE`: not inside a UTF-8 character, nor
    between a ``\r`` and the ``\n`` that may follow."""
    cut = MAX_LINE
    while cut > MAX_LINE - 4 and buffer[cut] & 0xC0 == 0x80:
        cut -= 1
    if buffer[cut - 1] == 0x0D:
        cut -= 1
    return cut


def _text(raw: bytes | bytearray) -> str:
    return raw.decode("utf-8", errors="replace")


def _watch_exit(
    loop: asyncio.AbstractEventLoop, process: subprocess.Popen[bytes]
) -> asyncio.Future[int]:
    """The exit code of `process`, once it has exited (reaped here: through its pidfd on
    the loop, or else by a thread of its own waiting for it, as Python 3.11's default
    child watcher does)."""
    exited: asyncio.Future[int] = loop.create_future()

    def done(code: int) -> None:
        process.returncode = code  # reaped: Popen must not wait for it again
        if not exited.done():
            exited.set_result(code)

    def reap() -> int:
        try:
            _, status = os.waitpid(process.pid, 0)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            return 255
        return os.waitstatus_to_exitcode(status)

    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # no pidfds here
        waiter = threading.Thread(
            target=lambda: loop.call_soon_threadsafe(done, reap()), daemon=True
        )
        waiter.start()
        return exited

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        done(reap())

    loop.add_reader(pidfd, on_exit)
    return exited


def _start(argv: list[str], cwd: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`argv` in a new session, stdout and stderr on one pipe (in a spawn thread)."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _abandon(spawn: asyncio.Future[subprocess.Popen[bytes]]) -> None:
    """A process whose start was waited for by a cancelled step: killed and reaped."""
    if spawn.cancelled() or spawn.exception() is not None:
        return
    process = spawn.result()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    assert process.stdout is not None
    process.stdout.close()
    SPAWNER.pool().submit(process.wait)


async def run_process(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    on_line: LineSink,
    on_late_line: LineSink,
    groups: ProcessGroups,
    cancel: CancelToken,
    deadline: float | None,
) -> ProcessOutcome:
    """Run `argv` until it exits, `deadline` (loop time) passes or `cancel` is set."""
    loop = asyncio.get_running_loop()
    mark, token = WATCHDOG.marker()
    spawn = loop.run_in_executor(SPAWNER.pool(), _start, argv, cwd, {**env, mark: token})
    try:
        process = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        spawn.add_done_callback(_abandon)
        raise
    except OSError as err:
        return ProcessOutcome(error=f"{err.strerror or err}: {argv[0]}")
    pid = process.pid
    WATCHDOG.watch(pid)
    groups.groups.add(pid)
    exited = _watch_exit(loop, process)
    stream = asyncio.StreamReader(limit=1 << 16, loop=loop)
    assert process.stdout is not None
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream, loop=loop), process.stdout
    )
    sink: list[LineSink] = [on_line]
    reader = asyncio.create_task(_read_lines(stream, lambda line, more: sink[0](line, more)))
    canceller = asyncio.create_task(cancel.wait())
    outcome = ProcessOutcome()
    handed_off = False
    try:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        waiting: set[asyncio.Future[Any]] = {exited, canceller}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if exited not in done:
            outcome.cancelled = canceller in done
            outcome.timed_out = not outcome.cancelled
            await kill_group(pid, groups.kill_grace)
            await exited
        outcome.exit_code = exited.result()
        try:
            await asyncio.wait_for(asyncio.shield(reader), DRAIN_AFTER_EXIT)
        except TimeoutError:
            sink[0] = on_late_line
            groups.readers.add(reader)
            reader.add_done_callback(groups.readers.discard)
            reader.add_done_callback(lambda _: transport.close())
            handed_off = True
    finally:
        canceller.cancel()
        if not exited.done():  # we are being cancelled ourselves: leave nothing
            await kill_group(pid, 0.0)
        if not handed_off:
            reader.cancel()
            transport.close()
    return outcome
