"""Per-job workspaces: the repository at the run's commit, cheap to create, sure to go.

The commit is exported once per (repository, commit, work root) into a read-only
*snapshot* (``git read-tree`` into a private index, then ``git checkout-index``: the
user's working tree and index are never touched, symlinks and executable bits are kept,
and ``export-ignore`` attributes do not apply as they would with ``git archive``). Each job
then gets a plain copy of the snapshot, made from a manifest listed once per snapshot
(directories, files with their modes, symlinks): no directory scans, no ``chmod``/
``utime`` per file, which on a busy ext4 cost more than the copy itself. Copying a small
tree costs far less than a ``git worktree add``, and unlike hard links a job that rewrites
a file in place cannot change the snapshot. Small snapshots are copied on the event loop
(a thread hand-off costs more than the copy); big ones in a worker thread.

Layout of one job under ``work_root/<job-slug>/``: ``workspace/`` (GITHUB_WORKSPACE),
``temp/`` (RUNNER_TEMP, also TMPDIR). The tool cache is the user's (`toolcache`).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SNAPSHOTS = ".snapshots"


class WorkspaceError(Exception):
    """The commit cannot be materialised (unknown commit, not a repository, ...)."""


def job_slug(key: str) -> str:
    """A directory name for a job key, unique per key (a hash is added when it was altered)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.") or "job"
    if slug != key:
        slug = f"{slug[:60]}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    return slug


@dataclass(frozen=True, slots=True)
class Workspace:
    root: str
    workspace: str
    temp: str


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Lock]]
_locks = weakref.WeakKeyDictionary()


def _git(repo: str, *args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        ["git", "-C", repo, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed: {result.stderr.strip()}")


def export_commit(repo_dir: str, sha: str, target: str) -> None:
    """Write the tree of `sha` into the new directory `target` (atomically)."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        index = os.path.join(staging, ".index")
        tree = os.path.join(staging, "tree")
        os.mkdir(tree)
        # an own index and work tree: `repo_dir` may be bare (the server's mirrors)
        env = {"GIT_INDEX_FILE": index, "GIT_WORK_TREE": tree}
        _git(repo_dir, "read-tree", f"{sha}^{{tree}}", env=env)
        _git(repo_dir, "checkout-index", "--all", "--force", f"--prefix={tree}/", env=env)
        try:
            os.rename(tree, target)
        except OSError as err:  # another process made it first: use theirs
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    finally:
        remove_tree(staging)


async def snapshot(repo_dir: str, sha: str, work_root: str) -> str:
    """The snapshot directory of `sha`, exported on first use (once per event loop)."""
    target = os.path.join(work_root, SNAPSHOTS, sha)
    if target in _manifests and os.path.isdir(target):
        return target
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    key = (os.path.abspath(repo_dir), sha, os.path.abspath(work_root))
    lock = locks.setdefault(key, asyncio.Lock())
    async with lock:
        if not os.path.isdir(target):
            _manifests.pop(target, None)
            await asyncio.to_thread(export_commit, repo_dir, sha, target)
        if target not in _manifests:
            await asyncio.to_thread(manifest, target)
    locks.pop(key, None)  # later calls take the fast path above
    return target


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a snapshot holds, listed once: (relative path, mode or link target)."""

    dirs: tuple[str, ...]
    files: tuple[tuple[str, int], ...]
    links: tuple[tuple[str, str], ...]
    size: int
    #: File contents kept in memory for small snapshots: one write per file per job.
    contents: dict[str, bytes] | None = None

    @property
    def small(self) -> bool:
        return len(self.files) <= SMALL_FILES and self.size <= SMALL_BYTES


SMALL_FILES = 200
SMALL_BYTES = 4 << 20
#: Recently used manifests (a long-lived server sees many runs; keep memory bounded).
_manifests: OrderedDict[str, Manifest] = OrderedDict()
MANIFESTS_KEPT = 16


def manifest(snapshot_dir: str) -> Manifest:
    """The manifest of a snapshot (cached: snapshots never change)."""
    found = _manifests.get(snapshot_dir)
    if found is not None:
        _manifests.move_to_end(snapshot_dir)
        return found
    dirs: list[str] = []
    files: list[tuple[str, int]] = []
    links: list[tuple[str, str]] = []
    size = 0
    for root, dirnames, filenames in os.walk(snapshot_dir):
        rel = os.path.relpath(root, snapshot_dir)
        for name in list(dirnames):
            path = os.path.join(root, name)
            if os.path.islink(path):  # a symlink to a directory: keep it a link
                dirnames.remove(name)
                links.append((os.path.normpath(os.path.join(rel, name)), os.readlink(path)))
            else:
                dirs.append(os.path.normpath(os.path.join(rel, name)))
        for name in filenames:
            path = os.path.join(root, name)
            st = os.lstat(path)
            relative = os.path.normpath(os.path.join(rel, name))
            if stat.S_ISLNK(st.st_mode):
                links.append((relative, os.readlink(path)))
            else:
                files.append((relative, stat.S_IMODE(st.st_mode)))
                size += st.st_size
    contents = None
    if len(files) <= SMALL_FILES and size <= SMALL_BYTES:
        contents = {}
        for relative, _ in files:
            with open(os.path.join(snapshot_dir, relative), "rb") as f:
                contents[relative] = f.read()
    found = Manifest(tuple(dirs), tuple(files), tuple(links), size, contents)
    _manifests[snapshot_dir] = found
    while len(_manifests) > MANIFESTS_KEPT:
        _manifests.popitem(last=False)
    return found


def _copy_file(source: str, target: str, mode: int) -> None:
    fin = os.open(source, os.O_RDONLY)
    try:
        fout = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            while os.sendfile(fout, fin, None, 1 << 30) > 0:
                pass
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def copy_snapshot(snapshot_dir: str, target: str) -> None:
    """Copy the snapshot into the new directory `target`."""
    listing = manifest(snapshot_dir)
    os.mkdir(target)
    for rel in listing.dirs:
        os.mkdir(os.path.join(target, rel))
    contents = listing.contents
    for rel, mode in listing.files:
        if contents is None:
            _copy_file(os.path.join(snapshot_dir, rel), os.path.join(target, rel), mode)
            continue
        fd = os.open(os.path.join(target, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            data = memoryview(contents[rel])
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
    for rel, link in listing.links:
        os.symlink(link, os.path.join(target, rel))


def layout(work_root: str, key: str) -> Workspace:
    root = os.path.join(work_root, job_slug(key))
    return Workspace(
        root=root,
        workspace=os.path.join(root, "workspace"),
        temp=os.path.join(root, "temp"),
    )


def create(snapshot_dir: str, work_root: str, key: str) -> Workspace:
    """A fresh job directory holding a copy of the snapshot; a stale one is replaced."""
    ws = layout(work_root, key)
    if os.path.lexists(ws.root):
        remove_tree(ws.root)
    os.makedirs(ws.root)
    try:
        copy_snapshot(snapshot_dir, ws.workspace)
        os.mkdir(ws.temp)
    except BaseException:  # e.g. a full disk: leave nothing half-made behind
        remove_tree(ws.root)
        raise
    return ws


async def create_async(snapshot_dir: str, work_root: str, key: str) -> Workspace:
    """`create`, in a worker thread only when the snapshot is big."""
    if manifest(snapshot_dir).small:
        return create(snapshot_dir, work_root, key)
    return await asyncio.to_thread(create, snapshot_dir, work_root, key)


def _make_removable(path: str) -> None:
    """Give the owner rwx on `path` and its parent, so a job's chmod cannot block removal."""
    for p in (os.path.dirname(path), path):
        try:
            mode = os.lstat(p).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(p, stat.S_IMODE(mode) | stat.S_IRWXU)
        except OSError:
            pass


def remove_tree(path: str) -> None:
    """Remove `path` whatever a job did to it (missing, chmod'ed, read-only files)."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return

    def retry(func: Callable[..., Any], failed: str, _exc: Any) -> None:
        if not os.path.lexists(failed):
            return
        _make_removable(failed)
        if os.path.isdir(failed) and not os.path.islink(failed):
            shutil.rmtree(failed, ignore_errors=True)
        else:
            os.unlink(failed)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


def remove_small_tree(path: str, limit: int = 256) -> bool:
    """Remove `path` now if it holds at most `limit` entries, and say so; leave a bigger
    tree alone (False) for `remove_tree` in a worker thread. A job's directory is
    usually a few files, which cost less to remove than a hand-off to a thread."""
    dirs: list[str] = [path]
    files: list[str] = []
    try:
        for directory in dirs:  # grows while it is walked: breadth first
            with os.scandir(directory) as entries:
                for entry in entries:
                    (dirs if entry.is_dir(follow_symlinks=False) else files).append(entry.path)
                    if len(dirs) + len(files) > limit:
                        return False
        for file in files:
            os.unlink(file)
        for directory in reversed(dirs):
            os.rmdir(directory)
    except OSError:  # missing, or a job's chmod: the thorough way (the tree is small)
        remove_tree(path)
    return True


def fast_work_root(min_free: int = 2 << 30) -> str | None:
    """A memory-backed directory (``/dev/shm``) for work roots, when it exists, is
    writable and has `min_free` bytes free; None otherwise.

    Creating and removing a job's files dominates a short job's overhead, and on a busy
    disk each file create can cost a millisecond; on tmpfs it costs microseconds. The
    caller decides whether jobs are small enough to live in memory.
    """
    candidate = "/dev/shm"
    try:
        if not os.access(candidate, os.W_OK | os.X_OK):
            return None
        st = os.statvfs(candidate)
    except OSError:
        return None
    return candidate if st.f_bavail * st.f_frsize >= min_free else None
