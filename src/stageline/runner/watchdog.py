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
scripts with secrets in them live), and exits. A step costs two small pipe writes;
the watchdog's start (one interpreter, about 15 ms) is paid once per process, off the
step's path.

Run as a script (``python -I -S watchdog.py``): it imports nothing from stageline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

#: How long registered groups get between SIGTERM and SIGKILL once their runner died.
GRACE_S = 2.0


class Watchdog:
    """This process's link to its watchdog (started on first use, again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._fd: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

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
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-I", "-S", __file__],
                    stdin=read,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError:
                os.close(write)
                write = -1
            finally:
                os.close(read)
            # Inherited after a fork, the parent's write end would keep its watchdog
            # waiting for this process too: that is what we want, so it stays open.
            self._pid, self._fd = os.getpid(), (write if write >= 0 else None)
            return self._fd


WATCHDOG = Watchdog()


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_groups(groups: set[int], grace: float = GRACE_S) -> None:
    """SIGTERM every group, then SIGKILL those still there after `grace` seconds."""
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = {pgid for pgid in groups if _alive(pgid)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {pgid for pgid in left if _alive(pgid)}
    for pgid in left:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


def remove_dir(path: str) -> None:
    """Remove `path` whatever its job did to it (read-only directories included)."""

    def retry(func: object, failed: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    shutil.rmtree(path, onerror=retry)  # 3.12 deprecates onerror; onexc is 3.12+


def main() -> None:
    """Keep the registered groups and directories from stdin; at its end, kill the
    groups left and remove the directories."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    directories: set[str] = set()
    pending = b""
    while True:
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            break
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
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
    kill_groups(groups)
    for path in directories:
        with contextlib.suppress(OSError):
            remove_dir(path)


if __name__ == "__main__":
    main()
