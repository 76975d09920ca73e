"""What the runner needs from the machine it runs on, as small interfaces.

A job's runner finds its workspace, the run's artifacts, the repository's cache and its
step logs only through these protocols, bundled in `JobPorts`. The local executor
supplies the implementations in `stageline.runner.places` (directories on this machine,
the layout every earlier version used); a remote worker supplies its own (a clone
instead of a snapshot, an artifact server, logs streamed in batches) and the runner
does not change.

Every method is called from the job's event loop; one that blocks on I/O for long runs
its work in a thread itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stageline.runner.workspace import Workspace


class WorkspaceProvider(Protocol):
    """The job's directories, holding the repository at the request's commit."""

    @property
    def run_root(self) -> str:
        """A directory shared by the run's jobs on this machine (the event payload)."""

    @property
    def action_dirs(self) -> Sequence[str]:
        """Directories searched for `uses: OWNER/REPO@REF` actions, in order."""

    async def create(self, key: str) -> Workspace:
        """A fresh workspace for the job `key`; raises `WorkspaceError` when the commit
        cannot be materialised."""

    async def remove(self, ws: Workspace) -> None:
        """Remove everything `create` made, whatever the job did to it."""

    async def resolve(self, ref: str) -> tuple[str, str]:
        """(commit, full ref or '') of a branch, tag or commit of the run's repository.
        Raises `CheckoutError`."""

    async def checkout(
        self, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
    ) -> None:
        """Make `target` a git repository of the run's repository at `sha` (reached by
        `ref`), with `depth` commits of history (0: all). Raises `CheckoutError`."""


class CheckoutError(Exception):
    """A ref that does not exist, a git failure: the checkout step fails with it."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A saved cache entry; `location` is the store's own handle for it."""

    key: str
    version: str
    created: float
    location: str


class ArtifactError(Exception):
    """An artifact that cannot be stored (a name taken, nothing to upload)."""


class ArtifactStore(Protocol):
    """The run's artifacts, shared by its jobs."""

    async def upload(
        self,
        name: str,
        root: str,
        files: list[str],
        meta: dict[str, Any],
        merge: bool,
        overwrite: bool,
    ) -> tuple[dict[str, Any], str]:
        """Store `files` (relative to `root`) as the artifact `name`, atomically: a
        concurrent download never sees half of it. (metadata with ``files`` and ``size``
        added, where it is). Raises `ArtifactError` for a name already taken."""

    async def names(self) -> list[str]:
        """The names of the run's complete artifacts, sorted."""

    async def download(self, name: str, dest: str) -> None:
        """Copy the files of the artifact `name` into the directory `dest`."""


class CacheStore(Protocol):
    """The repository's cache entries (`actions/cache`); keys are immutable."""

    async def lookup(self, version: str, key: str, restore_keys: list[str]) -> CacheEntry | None:
        """The exact key, else the newest entry whose key starts with `key`, then with
        each of `restore_keys` in order; only entries of `version`."""

    async def restore(self, entry: CacheEntry, workspace: str) -> None: ...

    async def save(self, version: str, key: str, patterns: list[str], workspace: str) -> int | None:
        """Save the files `patterns` match; their number, or None when the key exists."""


class LogFile(Protocol):
    """One step's log, append-only; lines arrive masked, each ending with a newline."""

    @property
    def location(self) -> str:
        """Where a reader finds the log (a path for a local file); the engine records it."""

    @property
    def size(self) -> int | None:
        """Bytes written, known once the log is closed; None before."""

    def write(self, text: str) -> None:
        """Append `text` (visible to readers at once); after `close`, still appends:
        a background process may write late."""

    def close(self) -> None: ...


class LogStore(Protocol):
    def open(self, key: str, index: int) -> LogFile:
        """The log of step `index` of the job `key` (appended to when it exists)."""


class Launcher(Protocol):
    """How a job's step processes start: a sandbox wraps each command line in its walls."""

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """The command line that runs `argv`, started with the environment `env`."""


@dataclass(frozen=True, slots=True)
class JobPorts:
    """Everything the runner needs from its machine, for one job."""

    workspaces: WorkspaceProvider
    artifacts: ArtifactStore
    cache: CacheStore
    logs: LogStore
    #: None: steps start as they are (the local executor).
    launcher: Launcher | None = None


__all__ = [
    "ArtifactError",
    "ArtifactStore",
    "CacheEntry",
    "CacheStore",
    "CheckoutError",
    "JobPorts",
    "Launcher",
    "LogFile",
    "LogStore",
    "WorkspaceProvider",
]
