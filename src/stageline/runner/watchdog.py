"""Steps die with the process that runs them, however it ends.

A step runs in its own session (`runner.process`), so neither a SIGKILL of the engine
nor a hang-up of its terminal reaches it: without help, a killed ``stageline run``
leaves its steps running to completion (a deploy finishing behind the record's back).
`PR_SET_PDEATHSIG` alone is not enough: it reaches the step's shell, not the
processes the shell started, and it fires when the forking *thread* ends.

So each process that runs steps (the engine, a worker) has one watchdog: a small
stdlib-only Python process in its own session, started with the first step, which
reads a pipe whose write end only this process holds. The process writes ``+PGID``
when a step's process group starts and ``-PGID`` once the group is gone; when the
pipe reaches end of file (this process ended, by any means), the watchdog sends
SIGTERM to every group still registered, SIGKILL after `GRACE_S`, removes the
directories registered with ``D PATH`` (a run's work root on tmpfs, where step
scripts with secrets in them live), and exits. A step costs two small pipe writes,
which do not wake the watchdog: it waits for the pipe's hang-up alone and reads what
was registered every `DRAIN_S` seconds and at the end (woken by every write, it took
a context switch of a busy machine's cores, ~0.2 ms, per write); the pipe is made
large enough (`PIPE_SIZE`) that a writer never waits for a drain. The watchdog's start
(one interpreter, about 40 ms of CPU) is paid once per process, before its first step.

A step that starts just before this process dies may not be registered yet; so every
step also carries ``STAGELINE_WATCHDOG=<token>`` in its environment (`marker`),
inherited by everything it starts, and at end of file the watchdog also kills the
processes of its user whose initial environment holds its token (read from
``/proc``): that covers the unregistered, and children that left their group.

Run as a script (``python -I -S watchdog.py``): it imports nothing from stageline.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import sys
import threading
import time

#: How long registered groups get between SIGTERM and SIGKILL once their runner died.
GRACE_S = 2.0
#: The environment variable that marks a step's processes as this watchdog's.
MARK = "STAGELINE_WATCHDOG"
#: How often the watchdog reads the registrations (it is not woken by each).
DRAIN_S = 1.0
#: The pipe's capacity asked for (Linux's unprivileged maximum): ~60,000 registrations.
PIPE_SIZE = 1 << 20


class Watchdog:
    """This process's link to its watchdog (started on first use, again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._fd: int | None = None
        self._token = ""

    def marker(self) -> tuple[str, str]:
        """The environment entry a step must carry (starts the watchdog if need be)."""
        if self._pid != os.getpid():
            self._start()
        return MARK, self._token

    def watch(self, pgid: int) -> None:
        """Kill process group `pgid` if this process dies before `forget(pgid)`."""
        self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        """Group `pgid` is gone (its id may be reused): no longer kill it."""
        if self._pid == os.getpid():
            self._send(f"-{pgid}\n")

    def watch_dir(self, path: str) -> None:
        """Remove directory `path` (and everything in it) if this process dies."""
        if "\n" not in path:
            self._send(f"D{path}\n")

    def _send(self, line: str) -> None:
        fd = self._fd if self._pid == os.getpid() else self._start()
        if fd is None:
            return
        with contextlib.suppress(OSError):  # the watchdog is gone: nothing to tell
            os.write(fd, line.encode())

    def _start(self) -> int | None:
        with self._lock:
            if self._pid == os.getpid():
                return self._fd
            read, write = os.pipe()
            with contextlib.suppress(OSError, AttributeError):  # Linux only; 64 KiB else
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            token = f"{os.getpid()}-{os.urandom(6).hex()}"
            try:  # not a `Popen`: nothing to wait for, or to warn about, at our exit
                os.posix_spawn(
                    sys.executable,
                    [sys.executable, "-I", "-S", __file__, token],
                    # unmarked: a `stageline` run by a step keeps its watchdog until
                    # it has killed that run's own steps
                    {k: v for k, v in os.environ.items() if k != MARK},
                    file_actions=[
                        (os.POSIX_SPAWN_DUP2, read, 0),
                        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                    ],
                    setsid=True,
                )
            except OSError:
                os.close(write)
                write = -1
            finally:
                os.close(read)
            # Inherited after a fork, the parent's write end would keep its watchdog
            # waiting for this process too: that is what we want, so it stays open.
            self._pid, self._fd = os.getpid(), (write if write >= 0 else None)
            self._token = token
            return self._fd


WATCHDOG = Watchdog()


def _alive(target: int) -> bool:
    """Whether process `target` (or group `-target`) is still there."""
    try:
        os.kill(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def marked(token: str) -> set[int]:
    """Processes of this user whose initial environment carries ``MARK=token``."""
    entry = f"{MARK}={token}".encode() + b"\0"
    found = set()
    me = os.getpid()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            with contextlib.suppress(OSError), open(f"/proc/{name}/environ", "rb") as env:
                if entry in b"\0" + env.read():
                    found.add(int(name))
    return found


def kill_groups(groups: set[int], grace: float = GRACE_S, token: str = "") -> None:
    """SIGTERM every group (and every process marked with `token`), then SIGKILL
    those still there after `grace` seconds."""
    targets = {-pgid for pgid in groups} | (marked(token) if token else set())
    # Freeze them all first: signalled one by one, a shell whose child died first would
    # run on (`wait` returns) and finish its deploy before its own SIGTERM arrives.
    for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGCONT):
        for target in targets:
            with contextlib.suppress(OSError):
                os.kill(target, sig)  # a negative id: the whole group
    deadline = time.monotonic() + grace
    left = {t for t in targets if _alive(t)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {t for t in left if _alive(t)}
    for target in left | (marked(token) if token else set()):
        with contextlib.suppress(OSError):
            os.kill(target, signal.SIGKILL)


def remove_dir(path: str) -> None:
    """Remove directory `path` whatever its job did to what is inside (read-only
    directories included). Nothing outside `path` is ever touched: a missing `path`
    (the run removed it) is left at that."""
    if not os.path.isdir(path) or os.path.islink(path):
        return
    inside = path.rstrip("/") + "/"

    def retry(func: object, failed: str, _exc: object) -> None:
        if not failed.startswith(inside):
            return
        with contextlib.suppress(OSError):
            parent = os.path.dirname(failed)
            if parent.startswith(inside):
                os.chmod(parent, 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)  # our own work root: the job may have made it read-only
    shutil.rmtree(path, onerror=retry)  # 3.12 deprecates onerror; onexc is 3.12+
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _drain(fd: int, ended: bool) -> tuple[list[bytes], bool]:
    """What the pipe holds now, and whether it has ended (end of file, or an error)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return chunks, ended
        except OSError:
            return chunks, True
        if not chunk:
            return chunks, True
        chunks.append(chunk)


def main() -> None:
    """Keep the registered groups and directories from stdin; at its end, kill the
    groups left and remove the directories."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    directories: set[str] = set()
    pending = b""
    os.set_blocking(0, False)
    hang_up = select.poll()
    hang_up.register(0, 0)  # no events asked: only the hang-up (or an error) wakes it
    ended = False
    while not ended:
        with contextlib.suppress(InterruptedError):
            ended = bool(hang_up.poll(DRAIN_S * 1000))
        chunks, ended = _drain(0, ended)
        *lines, pending = (pending + b"".join(chunks)).split(b"\n")
        for line in lines:
            if line[:1] == b"D":
                directories.add(os.fsdecode(line[1:]))
                continue
            with contextlib.suppress(ValueError):
                pgid = int(line[1:])
                if line[:1] == b"+" and pgid > 1:
                    groups.add(pgid)
                elif line[:1] == b"-":
                    groups.discard(pgid)
    kill_groups(groups, token=sys.argv[1] if len(sys.argv) > 1 else "")
    for path in directories:
        with contextlib.suppress(OSError):
            remove_dir(path)


if __name__ == "__main__":
    main()
