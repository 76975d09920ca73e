"""The sandbox executor: the local executor with every step inside bubblewrap walls.

Jobs run on this machine with `stageline.runner`, as with `LocalExecutor`; what changes
is the ports: each job's `SandboxJob` makes its workspace as the local ports do, plus a
HOME of its own and a pids cgroup, and wraps each step's command line in the job's
`bwrap.Walls`. The runner's own work (checkout, cache, artifacts, file commands) stays
outside the walls, so the cache action reaches the cache directory that steps cannot;
`guards` keeps its copies from following links a step left.
See docs/sandbox.md for the walls, the limits and what they do not protect.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from stageline.errors import ConfigError, RunError
from stageline.executors import pids
from stageline.executors.base import (
    HEARTBEAT_S,
    Admissions,
    Annotation,
    CancelToken,
    JobRequest,
    JobResult,
    JobSink,
)
from stageline.executors.bwrap import (
    SandboxPolicy,
    SandboxUnavailable,
    Walls,
    probe,
    write_arguments,
)
from stageline.executors.guards import GuardedArtifacts, GuardedCache
from stageline.runner import run_job, toolcache
from stageline.runner import workspace as workspaces
from stageline.runner.job import DEFAULT_KILL_GRACE
from stageline.runner.places import LocalDirs, local_ports, user_cache
from stageline.runner.ports import WorkspaceProvider
from stageline.runner.workspace import Workspace

HOME_DIR = "home"
_NO_NETWORK = (
    "job '{0}' has services, but the sandbox gives it no network: its steps cannot reach "
    "them on this machine; allow it in .stageline.yml (sandbox: {{network_jobs: [{0}]}})"
)


def require() -> tuple[tuple[str, str], Path]:
    """bwrap and setsid, and the pids cgroup hierarchy, checked once per process; a
    `ConfigError` saying what is missing when the sandbox cannot work here."""
    try:
        programs = probe()
    except SandboxUnavailable as err:
        raise ConfigError(f"--executor sandbox: {err}", hint="or use --executor local") from None
    parent = pids.hierarchy()
    if parent is None:
        raise ConfigError(
            "--executor sandbox: no writable pids cgroup to bound a job's processes "
            "(RLIMIT_NPROC does not bind root)",
            hint="mount the pids cgroup controller (v1) or delegate it (v2)",
        )
    return programs, parent


class SandboxExecutor:
    """Runs jobs like `LocalExecutor`, each step inside the job's walls (`policy`)."""

    name = "sandbox"

    def __init__(
        self,
        policy: SandboxPolicy | None = None,
        *,
        kill_grace: float = DEFAULT_KILL_GRACE,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.policy = policy or SandboxPolicy()
        self.kill_grace = kill_grace
        self.heartbeat_s = heartbeat_s
        self._admissions = Admissions()
        self._found: tuple[tuple[str, str], Path] | None = None

    async def start(self) -> None:
        """Check bwrap, user namespaces and the pids cgroup (raises `ConfigError`)."""
        if self._found is None:
            self._found = await asyncio.to_thread(require)

    async def close(self) -> None:
        """Nothing to release: every job removes its cgroup before `run_job` returns."""

    async def run_job(self, request: JobRequest, sink: JobSink, cancel: CancelToken) -> JobResult:
        if request.local is None:
            raise RunError(f"job '{request.job.key}': the sandbox executor needs `request.local`")
        self._admissions.admit(request)
        await self.start()
        assert self._found is not None
        programs, cgroups = self._found
        dirs = request.local
        job = request.job
        environment = job.environment.name if job.environment is not None else None
        home = os.path.join(workspaces.layout(dirs.work_root, job.key).root, HOME_DIR)
        request = dataclasses.replace(request, extra_env={**request.extra_env, "HOME": home})
        base = local_ports(dirs, request.sha)
        sandboxed = SandboxJob(
            base.workspaces,
            programs=programs,
            cgroups=cgroups,
            policy=self.policy,
            hidden=_hidden(dirs, self.policy),
            readable=_readable(dirs),
            network=self.policy.allows_network(job.job_id, environment),
        )
        ports = dataclasses.replace(
            base,
            workspaces=sandboxed,
            launcher=sandboxed,
            artifacts=GuardedArtifacts(base.artifacts, sandboxed.root),
            cache=GuardedCache(base.cache, sandboxed.root),
        )
        sink.event("job.runner", {"name": socket.gethostname(), "sandbox": True})
        if job.services and not sandboxed.network:
            sink.annotation(Annotation("warning", _NO_NETWORK.format(job.job_id)))
        try:
            return await run_job(
                request,
                sink,
                cancel,
                ports,
                kill_grace=self.kill_grace,
                heartbeat_s=self.heartbeat_s,
            )
        finally:
            await sandboxed.close()


def _hidden(dirs: LocalDirs, policy: SandboxPolicy) -> list[str]:
    """What no step may see: the checkout, the run's directories, the user's home."""
    home = os.path.expanduser("~")
    run = [dirs.repo_dir, dirs.work_root, dirs.cache_dir, dirs.artifacts_dir, dirs.log_dir]
    return [*run, *policy.hidden, *([home] if home not in ("", "/") else [])]


def _readable(dirs: LocalDirs) -> list[str]:
    """What steps must read though it may be hidden: actions' code, the tool cache, and
    the toolchains in the user's home that PATH leads to (``~/.pyenv``, ``~/.cargo``)."""
    return [str(user_cache("")), str(toolcache.root()), *dirs.action_dirs, *_home_tools()]


def _home_tools(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The top-level entries of the user's home that the PATH entries go through."""
    home = os.path.realpath(os.path.expanduser("~"))
    found = []
    for entry in environ.get("PATH", "").split(os.pathsep):
        for path in {entry, os.path.realpath(entry)} if entry else ():
            inside = os.path.relpath(path, home)
            if os.path.isabs(path) and not inside.startswith(os.pardir) and inside != ".":
                found.append(os.path.join(home, inside.split(os.sep)[0]))
    return sorted(set(found))


class SandboxJob:
    """One job's workspace (the local one, plus HOME and a pids cgroup) and launcher."""

    def __init__(
        self,
        inner: WorkspaceProvider,
        *,
        programs: tuple[str, str],
        cgroups: Path,
        policy: SandboxPolicy,
        hidden: Sequence[str],
        readable: Sequence[str],
        network: bool,
    ) -> None:
        self._inner = inner
        self._programs = programs
        self._cgroups = cgroups
        self._policy = policy
        self._hidden = hidden
        self._readable = readable
        self.network = network
        self._walls: Walls | None = None
        self._group: Path | None = None
        #: The arguments file of the step started last (read by its bwrap by the time the
        #: next step starts or the job ends).
        self._arguments: str | None = None

    @property
    def run_root(self) -> str:
        return self._inner.run_root

    @property
    def action_dirs(self) -> Sequence[str]:
        return self._inner.action_dirs

    async def create(self, key: str) -> Workspace:
        ws = await self._inner.create(key)
        try:
            home = os.path.join(ws.root, HOME_DIR)
            os.mkdir(home, 0o700)
            name = f"{workspaces.job_slug(key)[:80]}-{secrets.token_hex(4)}"
            self._group = pids.create(self._cgroups, name, self._policy.processes)
        except OSError as err:
            await self._inner.remove(ws)
            raise workspaces.WorkspaceError(f"cannot set up the sandbox: {err}") from err
        self._walls = Walls(
            self._programs[0],
            job_root=ws.root,
            home=home,
            hidden=self._hidden,
            readable=self._readable,
            network=self.network,
            memory=self._policy.memory,
            file_size=self._policy.file_size,
            setsid=self._programs[1],
            cgroup_procs=str(self._group / "cgroup.procs"),
        )
        return ws

    async def remove(self, ws: Workspace) -> None:
        await self._inner.remove(ws)

    async def close(self) -> None:
        """Remove the job's cgroup, killing what is left in it (the runner has killed the
        job's process groups by now; the workspace may be kept, the group never is)."""
        self._forget_arguments()
        group, self._group = self._group, None
        if group is not None:
            with contextlib.suppress(OSError):  # left for `pids.reap`
                await asyncio.to_thread(pids.remove, group)

    async def resolve(self, ref: str) -> tuple[str, str]:
        return await self._inner.resolve(ref)

    async def checkout(
        self, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
    ) -> None:
        await self._inner.checkout(target, sha, ref, depth, tags, clean)

    def root(self) -> str:
        """The job's directory, as the kernel resolves it (the guards compare with it)."""
        if self._walls is None:
            raise RunError("the sandboxed job's directory is not made yet")
        return os.path.realpath(self._walls.job_root)

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        if self._walls is None:
            raise RunError("a sandboxed step started before its workspace was made")
        self._forget_arguments()
        # in the run's work root: hidden from every job
        self._arguments = write_arguments(self._inner.run_root, env)
        return self._walls.command(argv, env, self._arguments)

    def _forget_arguments(self) -> None:
        path, self._arguments = self._arguments, None
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)


__all__ = ["SandboxExecutor", "SandboxJob", "require"]
