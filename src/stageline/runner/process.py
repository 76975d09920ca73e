"""Run one step's process in its own process group and stream its output line by line.

Guarantees:

* the process starts in a new session (its own process group), so a timeout or a cancel
  kills the whole tree: SIGTERM to the group, SIGKILL after `kill_grace` seconds;
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
import sys
from collections.abc import Callable
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


if sys.version_info < (3, 12):  # 3.12 deprecates child watchers (and uses pidfds itself)

    class PidfdWatcher(asyncio.AbstractChildWatcher):
        """Learns of a child's exit through its pidfd, polled by the loop that started it
        (what Python 3.12 does by default). Python 3.11's default watcher starts a thread
        per process to wait for it; under load starting that thread costs about as much as
        the step's own process. Unlike 3.11's `PidfdChildWatcher` it is bound to no loop,
        so every event loop of the process can start children."""

        def add_child_handler(  # type: ignore[override]
            self, pid: int, callback: Callable[..., Any], *args: Any
        ) -> None:
            loop = asyncio.get_running_loop()
            pidfd = os.pidfd_open(pid)
            loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

        @staticmethod
        def _reap(
            loop: asyncio.AbstractEventLoop,
            pid: int,
            pidfd: int,
            callback: Callable[..., Any],
            args: tuple[Any, ...],
        ) -> None:
            loop.remove_reader(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere: the status is lost
                code = 255
            finally:
                os.close(pidfd)
            callback(pid, code, *args)

        def remove_child_handler(self, pid: int) -> bool:
            return True

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            pass

        def is_active(self) -> bool:
            return True

        def close(self) -> None:
            pass

        def __enter__(self) -> PidfdWatcher:
            return self

        def __exit__(self, *exc: object) -> None:
            pass


def watch_children_with_pidfd() -> None:
    """Install `PidfdWatcher` in place of Python 3.11's default watcher (once; kept as
    is on 3.12+, without pidfds, or when another watcher was set on purpose)."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    policy = asyncio.get_event_loop_policy()
    if type(policy) is not asyncio.DefaultEventLoopPolicy:
        return
    watcher = getattr(policy, "_watcher", None)
    if watcher is not None and type(watcher) is not asyncio.ThreadedChildWatcher:
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return
    policy.set_child_watcher(PidfdWatcher())


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


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Knows when the process exits, even while a background child keeps the pipe open
    (asyncio's own `Process.wait()` only returns once every pipe is closed)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=1 << 16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


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
    watch_children_with_pidfd()
    mark, token = WATCHDOG.marker()
    env = {**env, mark: token}
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(loop),
            *argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as err:
        return ProcessOutcome(error=f"{err.strerror or err}: {argv[0]}")
    pid = transport.get_pid()
    WATCHDOG.watch(pid)
    groups.groups.add(pid)
    assert protocol.stdout is not None
    sink: list[LineSink] = [on_line]
    reader = asyncio.create_task(
        _read_lines(protocol.stdout, lambda line, more: sink[0](line, more))
    )
    canceller = asyncio.create_task(cancel.wait())
    outcome = ProcessOutcome()
    handed_off = False
    try:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        waiting: set[asyncio.Future[Any]] = {protocol.exited, canceller}
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if protocol.exited not in done:
            outcome.cancelled = canceller in done
            outcome.timed_out = not outcome.cancelled
            await kill_group(pid, groups.kill_grace)
            await protocol.exited
        outcome.exit_code = transport.get_returncode()
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
        if not protocol.exited.done():  # we are being cancelled ourselves: leave nothing
            await kill_group(pid, 0.0)
        if not handed_off:
            reader.cancel()
            transport.close()
    return outcome
