"""The runner's own file work for a sandboxed job, kept from following a step's links.

Artifact upload and download and the cache's save and restore run in the engine, outside
the walls, on paths inside the job's directory, which the job's steps write. A step could
leave a symbolic link there (``ws/out -> /etc`` or ``-> /root/.ssh``) for the engine to
read through (an upload carrying a host file out, for a later job to read) or to write
through (a restore or download landing outside the job's directory). These wrappers
refuse both before the copy starts: every source must resolve inside the job's
directory, and the target tree must hold no link that leads out of it.

What they cannot close is a race: a background process of the job swapping a directory
for a link between the check and the copy (docs/sandbox.md says so).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from stageline.runner.ports import ArtifactError, ArtifactStore, CacheEntry, CacheStore


class LinkRefused(PermissionError):
    """A path of the job leads out of its directory; nothing was copied."""


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def check_sources(paths: list[str], root: str) -> None:
    """Raise `LinkRefused` for the first of `paths` that resolves outside `root`."""
    for path in paths:
        if not _inside(path, root):
            raise LinkRefused(f"'{path}' leads out of the job's directory; the sandbox refuses it")


def check_target(target: str, root: str) -> None:
    """Raise `LinkRefused` when `target`, or a link anywhere under it, leads out of `root`."""
    if not _inside(target, root):
        raise LinkRefused(f"'{target}' leads out of the job's directory; the sandbox refuses it")
    for directory, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if os.path.islink(path) and not _inside(path, root):
                raise LinkRefused(
                    f"'{path}' is a link out of the job's directory; the sandbox copies "
                    "nothing into a tree that holds one"
                )


class GuardedArtifacts:
    """The run's artifacts, as `inner` keeps them, reached only from inside the job's
    directory (`root()`, known once the workspace is made)."""

    def __init__(self, inner: ArtifactStore, root: Callable[[], str]) -> None:
        self._inner = inner
        self._root = root

    async def upload(
        self,
        name: str,
        root: str,
        files: list[str],
        meta: dict[str, Any],
        merge: bool,
        overwrite: bool,
    ) -> tuple[dict[str, Any], str]:
        paths = [os.path.join(root, relative) for relative in files]
        try:
            await asyncio.to_thread(check_sources, paths, self._root())
        except LinkRefused as err:
            raise ArtifactError(str(err)) from None
        return await self._inner.upload(name, root, files, meta, merge, overwrite)

    async def names(self) -> list[str]:
        return await self._inner.names()

    async def download(self, name: str, dest: str) -> None:
        await asyncio.to_thread(check_target, dest, self._root())
        await self._inner.download(name, dest)


class GuardedCache:
    """The repository's cache, as `inner` keeps it, saved from and restored into the job's
    directory only."""

    def __init__(self, inner: CacheStore, root: Callable[[], str]) -> None:
        self._inner = inner
        self._root = root

    async def lookup(self, version: str, key: str, restore_keys: list[str]) -> CacheEntry | None:
        return await self._inner.lookup(version, key, restore_keys)

    async def restore(self, entry: CacheEntry, workspace: str) -> None:
        await asyncio.to_thread(check_target, workspace, self._root())
        await self._inner.restore(entry, workspace)

    async def save(self, version: str, key: str, patterns: list[str], workspace: str) -> int | None:
        from stageline.runner.globs import match_files

        root = self._root()
        await asyncio.to_thread(lambda: check_sources(match_files(patterns, workspace), root))
        return await self._inner.save(version, key, patterns, workspace)


__all__ = ["GuardedArtifacts", "GuardedCache", "LinkRefused", "check_sources", "check_target"]
