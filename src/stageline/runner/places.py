"""The local implementations of `stageline.runner.ports`: directories on this machine.

`LocalDirs` is their configuration, one per run: where the engine keeps the run's work
root, artifacts, cache and logs, and the source repository. Layouts:

* workspaces: ``<work_root>/<job-slug>/`` (see `stageline.runner.workspace`);
* artifacts: ``<artifacts_dir>/<name>/files/...`` plus ``<name>/artifact.json`` (name,
  job, step, size, file count, retention days, creation time), staged then renamed;
* cache: ``<cache_dir>/<digest>/entry.json`` and ``files/ws/...`` (paths in the
  workspace) plus ``files/abs/...`` (absolute paths such as ``~/.npm``), staged then
  renamed;
* logs: ``<log_dir>/<job-slug>.<index>.log``, line buffered so `stageline logs --follow`
  sees each line as soon as it is written; one directory per run, not per job (a
  directory costs a disk write as dear as the file's, ~0.4 ms on the bench's disk).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from stageline.runner import workspace as workspaces
from stageline.runner.ports import (
    ArtifactError,
    CacheEntry,
    CheckoutError,
    JobPorts,
)
from stageline.runner.workspace import Workspace, remove_tree


@dataclass(frozen=True, slots=True)
class LocalDirs:
    """Where a run's files are on this machine (plain strings, so it travels in a
    `JobRequest` to a process on the same machine)."""

    repo_dir: str
    work_root: str
    artifacts_dir: str
    cache_dir: str
    log_dir: str
    action_dirs: list[str] = field(default_factory=list)


def local_ports(dirs: LocalDirs, sha: str) -> JobPorts:
    """The ports of one job of the run `dirs` describes, at commit `sha`."""
    return JobPorts(
        workspaces=LocalWorkspaces(dirs, sha),
        artifacts=ArtifactDir(dirs.artifacts_dir),
        cache=CacheDir(dirs.cache_dir),
        logs=LogDir(dirs.log_dir),
    )


# -- workspaces ------------------------------------------------------------------------


class LocalWorkspaces:
    """Workspaces copied from a snapshot of the source repository (`runner.workspace`)."""

    __slots__ = ("_dirs", "_sha", "action_dirs", "run_root")

    def __init__(self, dirs: LocalDirs, sha: str) -> None:
        self._dirs = dirs
        self._sha = sha
        self.run_root = dirs.work_root
        self.action_dirs = dirs.action_dirs

    async def create(self, key: str) -> Workspace:
        snapshot = await workspaces.snapshot(self._dirs.repo_dir, self._sha, self.run_root)
        return await workspaces.create_async(snapshot, self.run_root, key)

    async def remove(self, ws: Workspace) -> None:
        if not workspaces.remove_small_tree(ws.root):
            await asyncio.to_thread(remove_tree, ws.root)

    async def resolve(self, ref: str) -> tuple[str, str]:
        return await asyncio.to_thread(resolve_ref, self._dirs.repo_dir, ref)

    async def checkout(
        self, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
    ) -> None:
        repo = self._dirs.repo_dir
        await asyncio.to_thread(checkout, repo, target, sha, ref, depth, tags, clean)


def user_cache(name: str) -> Path:
    """`$XDG_CACHE_HOME/stageline/<name>` (default `~/.cache/...`): the caches a user's runs
    share on this machine (fetched actions, the tool cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stageline" / name


def _git(cwd: str, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if result.returncode != 0:
        raise CheckoutError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def resolve_ref(repo_dir: str, ref: str) -> tuple[str, str]:
    """(commit, full ref or '') of `ref` in the source repository."""
    candidates = (
        [ref]
        if ref.startswith("refs/")
        else [
            f"refs/heads/{ref}",
            f"refs/tags/{ref}",
            f"refs/remotes/origin/{ref}",
            ref,
        ]
    )
    for candidate in candidates:
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            full = candidate if candidate.startswith("refs/") else ""
            if full.startswith("refs/remotes/origin/"):
                full = "refs/heads/" + full.removeprefix("refs/remotes/origin/")
            return result.stdout.strip(), full
    raise CheckoutError(f"ref '{ref}' was not found in the repository")


def _empty(directory: str) -> None:
    for name in os.listdir(directory):
        remove_tree(os.path.join(directory, name))


def checkout(
    repo_dir: str, target: str, sha: str, ref: str, depth: int, tags: bool, clean: bool
) -> None:
    """Materialise `sha` (reached by `ref`) from `repo_dir` into `target`."""
    os.makedirs(target, exist_ok=True)
    url = "file://" + os.path.abspath(repo_dir)
    if not os.path.isdir(os.path.join(target, ".git")):
        _empty(target)
        _git(target, "init", "-q")
        _git(target, "remote", "add", "origin", url)
    elif clean:
        _git(target, "clean", "-ffdx")
        _git(target, "reset", "--hard", "-q", "HEAD")
    fetch = ["fetch", "-q", "--no-recurse-submodules", "--prune"]
    fetch += ["--tags"] if tags or depth == 0 else ["--no-tags"]
    if depth > 0:
        fetch.append(f"--depth={depth}")
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    if depth == 0:
        fetch += ["origin", "+refs/heads/*:refs/remotes/origin/*", sha]
    elif branch:
        fetch += ["origin", f"+{sha}:refs/remotes/origin/{branch}"]
    elif ref.startswith("refs/tags/"):
        fetch += ["origin", f"+{sha}:{ref}"]
    else:
        fetch += ["origin", sha]
    _git(target, *fetch)
    if branch:
        _git(target, "checkout", "-q", "--force", "-B", branch, sha)
    else:
        _git(target, "checkout", "-q", "--force", "--detach", sha)


# -- artifacts -------------------------------------------------------------------------


class ArtifactDir:
    """The run's artifacts in one directory."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    async def upload(
        self,
        name: str,
        root: str,
        files: list[str],
        meta: dict[str, Any],
        merge: bool,
        overwrite: bool,
    ) -> tuple[dict[str, Any], str]:
        stored = await asyncio.to_thread(
            store_artifact, self.directory, name, root, files, meta, merge, overwrite
        )
        return stored, os.path.join(self.directory, name)

    async def names(self) -> list[str]:
        return artifact_names(self.directory)

    async def download(self, name: str, dest: str) -> None:
        source = os.path.join(self.directory, name, "files")
        await asyncio.to_thread(shutil.copytree, source, dest, dirs_exist_ok=True)


def store_artifact(
    artifacts_dir: str,
    name: str,
    root: str,
    files: list[str],
    meta: dict[str, Any],
    merge: bool,
    overwrite: bool,
) -> dict[str, Any]:
    """Write the artifact atomically; return its metadata."""
    os.makedirs(artifacts_dir, exist_ok=True)
    final = os.path.join(artifacts_dir, name)
    staging = tempfile.mkdtemp(prefix=f".{name}.", dir=artifacts_dir)
    try:
        target = os.path.join(staging, "files")
        if merge and os.path.isdir(os.path.join(final, "files")):
            shutil.copytree(os.path.join(final, "files"), target, symlinks=False)
        os.makedirs(target, exist_ok=True)
        size = 0
        for relative in files:
            dest = os.path.join(target, relative)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(os.path.join(root, relative), dest)
            size += os.path.getsize(dest)
        meta = {**meta, "files": sum(len(f) for _, _, f in os.walk(target)), "size": size}
        with open(os.path.join(staging, "artifact.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        if os.path.exists(final):
            if not (merge or overwrite):
                raise ArtifactError(
                    f"an artifact with the name '{name}' already exists in this run; "
                    "use another name or `overwrite: true`"
                )
            remove_tree(final)
        os.rename(staging, final)
    finally:
        remove_tree(staging)
    return meta


def artifact_names(artifacts_dir: str) -> list[str]:
    if not os.path.isdir(artifacts_dir):
        return []
    return sorted(
        n
        for n in os.listdir(artifacts_dir)
        if not n.startswith(".") and os.path.isfile(os.path.join(artifacts_dir, n, "artifact.json"))
    )


# -- cache -----------------------------------------------------------------------------


class CacheDir:
    """The repository's cache entries in one directory."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    async def lookup(self, version: str, key: str, restore_keys: list[str]) -> CacheEntry | None:
        return await asyncio.to_thread(lookup, self.directory, version, key, restore_keys)

    async def restore(self, entry: CacheEntry, workspace: str) -> None:
        await asyncio.to_thread(restore_entry, entry, workspace)

    async def save(self, version: str, key: str, patterns: list[str], workspace: str) -> int | None:
        return await asyncio.to_thread(
            save_entry, self.directory, version, key, patterns, workspace
        )


def entries(cache_dir: str, version: str) -> list[CacheEntry]:
    found: list[CacheEntry] = []
    if not os.path.isdir(cache_dir):
        return found
    for name in os.listdir(cache_dir):
        meta_path = os.path.join(cache_dir, name, "entry.json")
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        if meta.get("version") == version:
            found.append(
                CacheEntry(meta["key"], version, meta["created"], os.path.dirname(meta_path))
            )
    return found


def lookup(cache_dir: str, version: str, key: str, restore_keys: list[str]) -> CacheEntry | None:
    """The entry a restore would use (see `CacheStore.lookup` for the order)."""
    candidates = sorted(entries(cache_dir, version), key=lambda e: e.created, reverse=True)
    for entry in candidates:
        if entry.key == key:
            return entry
    for prefix in [key, *restore_keys]:
        for entry in candidates:
            if entry.key.startswith(prefix):
                return entry
    return None


def _split(path: str, workspace: str) -> str:
    """Where `path` is kept inside an entry's files/ directory."""
    if path.startswith(workspace + os.sep):
        return os.path.join("ws", os.path.relpath(path, workspace))
    return os.path.join("abs", path.lstrip(os.sep))


def save_entry(
    cache_dir: str, version: str, key: str, patterns: list[str], workspace: str
) -> int | None:
    """Store the files `patterns` match; the number of files, or None if the key exists."""
    os.makedirs(cache_dir, exist_ok=True)
    final = os.path.join(cache_dir, hashlib.sha256(f"{version}\0{key}".encode()).hexdigest()[:40])
    if os.path.exists(final):
        return None
    staging = tempfile.mkdtemp(prefix=".entry-", dir=cache_dir)
    try:
        from stageline.runner.globs import match_files  # only a cache save needs globs

        files = match_files(patterns, workspace)
        for path in files:
            dest = os.path.join(staging, "files", _split(path, workspace))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(path, dest)
        with open(os.path.join(staging, "entry.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "key": key,
                    "version": version,
                    "created": time.time(),
                    "paths": patterns,
                    "files": len(files),
                },
                f,
            )
        try:
            os.rename(staging, final)
        except OSError:
            return None
        return len(files)
    finally:
        remove_tree(staging)


def restore_entry(entry: CacheEntry, workspace: str) -> None:
    files = os.path.join(entry.location, "files")
    if os.path.isdir(os.path.join(files, "ws")):
        shutil.copytree(os.path.join(files, "ws"), workspace, dirs_exist_ok=True)
    if os.path.isdir(os.path.join(files, "abs")):
        shutil.copytree(os.path.join(files, "abs"), os.sep, dirs_exist_ok=True)


# -- logs ------------------------------------------------------------------------------


def _owner_only(path: str, flags: int) -> int:
    """Logs are 0600: what a step printed is its owner's to read."""
    return os.open(path, flags, 0o600)


class LogDir:
    """Step logs as files under the run's log directory."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def open(self, key: str, index: int) -> LogFile:
        path = os.path.join(self.directory, f"{workspaces.job_slug(key)}.{index}.log")
        return LogFile(path)


class LogFile:
    """One step's log file, line buffered; a write after `close` reopens it for that
    write (late output of a background process is rare)."""

    __slots__ = ("_file", "location", "size")

    def __init__(self, path: str) -> None:
        self.location = path
        self.size: int | None = None
        try:
            self._file: TextIO | None = self._open()
        except FileNotFoundError:  # the first log of its directory
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            self._file = self._open()

    def _open(self) -> TextIO:
        return open(self.location, "a", encoding="utf-8", buffering=1, opener=_owner_only)

    def write(self, text: str) -> None:
        if self._file is not None:
            self._file.write(text)
            return
        with open(self.location, "a", encoding="utf-8", opener=_owner_only) as f:
            f.write(text)

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self.size = os.fstat(self._file.fileno()).st_size
            self._file.close()
            self._file = None


__all__ = [
    "ArtifactDir",
    "CacheDir",
    "LocalDirs",
    "LocalWorkspaces",
    "LogDir",
    "LogFile",
    "local_ports",
]
