"""A worker's workspaces: the run's commit fetched from the server (ADR 0012).

`GitWorkspaces` is the runner's `WorkspaceProvider` on a worker. It keeps one bare clone
per registered repository under ``<cache_dir>/repos/<repo>.git``, fetched over the
server's smart HTTP (`protocol.GIT`) with the worker's token: a job whose commit the
clone has fetches nothing, another fetches only what is new. Each job then gets a fresh
workspace from a snapshot of the commit (`runner.workspace`, as a local job does), and
`actions/checkout` makes its repository from the bare clone (`runner.places.checkout`).

The token goes to git as `http.extraHeader` through `GIT_CONFIG_*` variables of the
git process only: never in a URL, a command line or a file. A file lock per clone
serialises fetches of the worker's concurrent jobs.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from stageline.runner import places
from stageline.runner import workspace as workspaces
from stageline.runner.ports import CheckoutError
from stageline.runner.workspace import Workspace, WorkspaceError, remove_tree
from stageline.worker.protocol import GIT

#: What one fetch of the clone takes: every branch and tag, pruned.
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
_TIMEOUT_S = 600.0


def with_config(env: dict[str, str], key: str, value: str) -> dict[str, str]:
    """`env` with one more `GIT_CONFIG_*` setting after those it has."""
    count = int(env.get("GIT_CONFIG_COUNT") or 0)
    return {
        **env,
        f"GIT_CONFIG_KEY_{count}": key,
        f"GIT_CONFIG_VALUE_{count}": value,
        "GIT_CONFIG_COUNT": str(count + 1),
    }


class GitWorkspaces:
    """Workspaces of `repo` at `sha` from a clone cache fed by the server."""

    __slots__ = ("_bare", "_env", "_repo", "_sha", "_url", "action_dirs", "run_root")

    def __init__(
        self,
        server_url: str,
        token: str,
        repo: str,
        sha: str,
        cache_dir: Path,
        run_root: Path,
        action_dirs: Sequence[str],
    ) -> None:
        self._repo = repo
        self._sha = sha
        self._url = server_url.rstrip("/") + GIT.format(repo=quote(repo, safe=""))
        self._bare = Path(cache_dir) / "repos" / f"{repo}.git"
        self._env = with_config(
            {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"},
            "http.extraHeader",
            f"Authorization: Bearer {token}",
        )
        self.run_root = str(run_root)
        self.action_dirs = list(action_dirs)

    @property
    def clone(self) -> Path:
        """The bare clone of the repository (shared by the worker's jobs)."""
        return self._bare

    async def create(self, key: str) -> Workspace:
        try:
            await asyncio.to_thread(self._ensure, self._sha)
        except CheckoutError as err:
            raise WorkspaceError(str(err)) from err
        snapshot = await workspaces.snapshot(str(self._bare), self._sha, self.run_root)
        return await workspaces.create_async(snapshot, self.run_root, key)

    async def remove(self, ws: Workspace) -> None:
        if not workspaces.remove_small_tree(ws.root):
            await asyncio.to_thread(remove_tree, ws.root)

    async def resolve(self, ref: str) -> tuple[str, str]:
        """The ref as the server's mirror has it now (the clone is fetched first)."""
        await asyncio.to_thread(self._ensure, None)
        return await asyncio.to_thread(places.resolve_ref, str(self._bare), ref)

    async def checkout(
        self, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
    ) -> None:
        await asyncio.to_thread(self._ensure, sha)
        bare = str(self._bare)
        await asyncio.to_thread(places.checkout, bare, target, sha, ref, depth, tags, clean)

    def _ensure(self, sha: str | None) -> None:
        """Fetch into the clone unless it has commit `sha` already (None: always)."""
        with self._locked():
            if not (self._bare / "HEAD").is_file():
                self._git("init", "-q", "--bare", str(self._bare))
            if sha is not None and self._has(sha):
                return
            wanted = [sha] if sha is not None else []
            self._git("--git-dir", str(self._bare), "fetch", "-q", "--prune", "--no-tags",
                      self._url, *_REFSPECS, *wanted)  # fmt: skip
            if sha is not None and not self._has(sha):
                raise CheckoutError(f"commit {sha} is not in {self._repo} on the server")

    def _has(self, sha: str) -> bool:
        done = subprocess.run(
            ["git", "--git-dir", str(self._bare), "cat-file", "-e", f"{sha}^{{commit}}"],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _git(self, *args: str) -> None:
        try:
            done = subprocess.run(
                ["git", *args],
                capture_output=True,
                text=True,
                env=self._env,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            message = f"fetching {self._repo} timed out after {_TIMEOUT_S:.0f} s"
            raise CheckoutError(message) from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            last = lines[-1] if lines else f"exit status {done.returncode}"
            if "not our ref" in last:
                sha = last.rsplit(" ", 1)[-1]
                raise CheckoutError(f"commit {sha} is not in {self._repo} on the server")
            raise CheckoutError(f"cannot fetch {self._repo} from the server: {last}")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._bare.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self._bare}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["GitWorkspaces", "with_config"]
