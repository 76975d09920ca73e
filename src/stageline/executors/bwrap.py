"""The walls of a sandboxed job as a bubblewrap command line (docs/sandbox.md, ADR 0013).

Each step of a sandboxed job runs as ``sh -c JOIN … setsid -w bwrap WALLS -- STEP``: a
tiny shell puts itself in the job's pids cgroup and sets the memory and file-size
rlimits, then becomes `setsid` starting `bwrap`, which builds the step's world and runs
the step in it:

* the host root read-only (``--ro-bind / /``), a fresh ``/dev``, ``/proc`` of its own
  PID namespace, a private ``/tmp``;
* the job's directory (its workspace, RUNNER_TEMP with the file commands, and its own
  HOME) bound writable at the same path, so every path the runner hands the step is
  valid inside;
* empty read-only tmpfs over what a job must not read or write: the repository
  checkout, the store, the cache, the run's artifacts and logs, the run's work root (so other jobs'
  workspaces are gone), the user's home (the stageline caches it holds, and the
  toolchains PATH leads to there, come back read-only), and any path the caller adds;
* new user, PID, IPC and UTS namespaces, no capabilities, no further user namespaces,
  no network unless the job is allowed it (a new network namespace holds only its own
  loopback), and death with its parent (the engine).

Nothing here runs a process but `probe`; the rest is string building, cheap per step.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: A process's heap and private memory (RLIMIT_DATA): enough for Node, Java or a compiler.
DEFAULT_MEMORY = 4 << 30
#: Processes and threads of one job at once (the pids cgroup's ``pids.max``).
DEFAULT_PROCESSES = 512
#: The largest file a step may write (RLIMIT_FSIZE).
DEFAULT_FILE_SIZE = 4 << 30

#: Sets the rlimits (as hard limits: a step cannot raise them back), joins the job's pids
#: cgroup when there is one (`$0`), opens the step's arguments file (`$3`: its environment
#: as ``--setenv`` pairs), then becomes ``setsid -w`` (`$4`) starting bwrap in a session of
#: its own, reading that file as ``--args``. Only shell builtins and absolute paths: the
#: step's PATH is the job's to set, and this shell runs outside the walls.
#:
#: The environment travels in a file, not on the command line (``ps`` shows that to every
#: user) nor only through the shell (dash drops variables whose names are not shell names,
#: such as ``INPUT_PYTHON-VERSION``). The session: bwrap's outer process exits as soon as
#: its PID namespace's init reports the step's status, leaving that init to be reaped by
#: the host's pid 1; in the step's process group it would hold the runner's end-of-job kill
#: until then. `setsid` dies with the group; bwrap and the namespace die with it
#: (``--die-with-parent``). dash takes KiB for ``ulimit -d`` and 512-byte blocks for ``-f``.
_SHIM = (
    'ulimit -d "$1" && ulimit -f "$2" && { [ "$0" = - ] || echo "$$" >"$0"; } '
    '&& exec 3<"$3" && s=$4 && shift 4 && exec "$s" -w "$@"'
)


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What every sandboxed job of a run gets: its limits, and who may use the network."""

    memory: int = DEFAULT_MEMORY
    processes: int = DEFAULT_PROCESSES
    file_size: int = DEFAULT_FILE_SIZE
    #: Every job gets the host network (``network: host``).
    network: bool = False
    #: Job ids (`jobs.<id>`), and environments, whose jobs get the host network.
    network_jobs: frozenset[str] = frozenset()
    network_environments: frozenset[str] = frozenset()
    #: More paths hidden from every job (the store, when it is not under the checkout).
    hidden: tuple[str, ...] = ()

    def allows_network(self, job_id: str, environment: str | None) -> bool:
        return (
            self.network
            or job_id in self.network_jobs
            or (environment is not None and environment in self.network_environments)
        )


@dataclass(frozen=True, slots=True)
class Walls:
    """One job's sandbox: `command` wraps a step's argv."""

    bwrap: str
    #: The job's own directory (workspace, temp, home), bound writable.
    job_root: str
    home: str
    hidden: Sequence[str]
    readable: Sequence[str]
    network: bool
    memory: int
    file_size: int
    #: util-linux's `setsid`.
    setsid: str
    #: The job's pids cgroup's ``cgroup.procs``, or None where no cgroup is used.
    cgroup_procs: str | None = None

    def command(self, argv: Sequence[str], env: Mapping[str, str], arguments: str) -> list[str]:
        """The command line that runs `argv` inside the walls with the environment `env`
        (HOME aside), written to the file `arguments` (`write_arguments`);
        `GITHUB_EVENT_PATH` stays readable."""
        readable = list(self.readable)
        event = env.get("GITHUB_EVENT_PATH")
        if event and os.path.exists(event):
            readable.append(event)
        return [
            "/bin/sh",
            "-c",
            _SHIM,
            self.cgroup_procs or "-",
            str(max(1, self.memory >> 10)),
            str(max(1, self.file_size >> 9)),
            arguments,
            self.setsid,
            self.bwrap,
            "--args",
            "3",
            *self.bwrap_args(readable),
            "--",
            *argv,
        ]

    def bwrap_args(self, readable: Iterable[str]) -> list[str]:
        args = list(_NAMESPACES)
        if not self.network:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        hidden = _outermost(self.hidden)
        for path in hidden:
            args += ["--tmpfs", path]
        for path in sorted(set(readable), key=len):
            args += ["--ro-bind-try", path, path]
        args += ["--bind", self.job_root, self.job_root, "--setenv", "HOME", self.home]
        for path in hidden:  # read-only once the mount points inside them are made
            args += ["--remount-ro", path]
        return args


_NAMESPACES = (
    "--unshare-user",
    "--disable-userns",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--cap-drop",
    "ALL",
)


def _outermost(paths: Iterable[str]) -> list[str]:
    """Existing directories to hide, shortest first, none inside another, without "/"
    (tmpfs over the root would hide the system the steps run on)."""
    found = sorted({os.path.realpath(p) for p in paths if p and os.path.isdir(p)} - {"/"}, key=len)
    kept: list[str] = []
    for path in found:
        if not any(path.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(path)
    return kept


def write_arguments(directory: str, env: Mapping[str, str]) -> str:
    """A new file (0600) in `directory` of ``--setenv NAME VALUE`` for every variable of
    `env`, NUL-separated, as bwrap's ``--args`` reads them; the caller removes it once the
    step has started."""
    path = os.path.join(directory, f".bwrap-{secrets.token_hex(8)}")
    pairs = (part for name, value in env.items() for part in ("--setenv", name, value))
    data = b"".join(os.fsencode(part) + b"\0" for part in pairs)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


class SandboxUnavailable(Exception):
    """bubblewrap, or the namespaces it needs, is missing on this machine."""


def find_programs() -> tuple[str, str]:
    """`bwrap` and `setsid`, or raise `SandboxUnavailable` saying how to get them."""
    bwrap, setsid = shutil.which("bwrap"), shutil.which("setsid")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install it: apt-get install bubblewrap"
        )
    if setsid is None:
        raise SandboxUnavailable("setsid is not installed; install it: apt-get install util-linux")
    return bwrap, setsid


@functools.cache
def probe() -> tuple[str, str]:
    """`bwrap` and `setsid`, checked once per process by starting an empty sandbox with
    the namespaces every job uses; raise `SandboxUnavailable` with bwrap's own reason
    (user namespaces disabled, a kernel without them, ...)."""
    bwrap, setsid = find_programs()
    with tempfile.TemporaryDirectory(prefix="stageline-probe-") as root:
        walls = Walls(bwrap, root, root, (), (), False, 1 << 40, 1 << 40, setsid=setsid)
        argv = walls.command(["true"], {}, write_arguments(root, {}))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SandboxUnavailable(f"bubblewrap cannot start: {err}") from err
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here: {reason[0]}")
    return bwrap, setsid


__all__ = [
    "DEFAULT_FILE_SIZE",
    "DEFAULT_MEMORY",
    "DEFAULT_PROCESSES",
    "SandboxPolicy",
    "SandboxUnavailable",
    "Walls",
    "find_programs",
    "probe",
    "write_arguments",
]
