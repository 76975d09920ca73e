"""Shell commands the deploy layer runs itself, tied to this process as steps are.

A rollback's ``rollback.run`` script and a monitor's ``command`` check are not steps,
yet they change or probe the environment, so they must not outlive the process that
runs them (issue 12): each runs in its own session (one group to kill, children
included), carries the watchdog's marker and is registered with the watchdog
(`runner.watchdog`), which kills the group if this process dies, SIGKILL included.
When the command ends or is cancelled, whatever is left of its group is killed too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import IO, Any

from stageline.runner.process import kill_group
from stageline.runner.watchdog import WATCHDOG

#: How long a command's group gets between SIGTERM and SIGKILL once it must stop.
KILL_GRACE_S = 2.0


@contextlib.asynccontextmanager
async def shell(
    command: str,
    *,
    cwd: str | None,
    env: Mapping[str, str] | None,
    stdout: int | IO[Any],
    stderr: int | IO[Any],
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`command` started under ``sh -c`` in its own session, killed with what it started
    when the block ends; raises OSError when it cannot start."""
    mark, token = WATCHDOG.marker()
    process = await asyncio.create_subprocess_shell(
        command,
        cwd=cwd,
        env={**(os.environ if env is None else env), mark: token},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    WATCHDOG.watch(process.pid)
    try:
        yield process
    finally:
        await kill_group(process.pid, KILL_GRACE_S)
        WATCHDOG.forget(process.pid)
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


async def exit_status(
    process: asyncio.subprocess.Process, cancel: asyncio.Event | None
) -> int | None:
    """`process`'s exit status, or None if `cancel` is set first (the run was cancelled:
    SIGTERM, SIGHUP, Ctrl-C; leaving `shell`'s block then kills the command)."""
    if cancel is None:
        return await process.wait()
    exited = asyncio.ensure_future(process.wait())
    stop = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if exited.done():
        return exited.result()
    exited.cancel()
    return None


__all__ = ["KILL_GRACE_S", "exit_status", "shell"]
