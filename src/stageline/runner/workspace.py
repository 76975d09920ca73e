"""Per-job workspaces: the repository at the run's commit, cheap to create, sure to go.

The commit is exported once per (repository, commit, work root) into a read-only
*snapshot* (``git read-tree`` into a private index, then ``git checkout-index``: the
user's working tree and index are never touched, symlinks and executable bits are kept,
and ``export-ignore`` attributes do not apply as they would with ``git archive``). Each job
then gets a plain recursive copy of the snapshot: copying a small tree costs far less
than a ``git worktree add``, and unlike hard links a job that rewrites a file in place
cannot change the snapshot.

Layout of one job under ``work_root/<job-slug>/``: ``workspace/`` (GITHUB_WORKSPACE),
``temp/`` (RUNNER_TEMP, also TMPDIR), ``tool_cache/`` (RUNNER_TOOL_CACHE).
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
    tool_cache: str


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
        env = {"GIT_INDEX_FILE": index}
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
    if os.path.isdir(target):
        return target
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault(
        (os.path.abspath(repo_dir), sha, os.path.abspath(work_root)), asyncio.Lock()
    )
    async with lock:
        if not os.path.isdir(target):
            await asyncio.to_thread(export_commit, repo_dir, sha, target)
    return target


def create(snapshot_dir: str, work_root: str, key: str) -> Workspace:
    """A fresh job directory holding a copy of the snapshot; a stale one is replaced."""
    root = os.path.join(work_root, job_slug(key))
    if os.path.lexists(root):
        remove_tree(root)
    os.makedirs(root)
    ws = Workspace(
        root=root,
        workspace=os.path.join(root, "workspace"),
        temp=os.path.join(root, "temp"),
        tool_cache=os.path.join(root, "tool_cache"),
    )
    shutil.copytree(snapshot_dir, ws.workspace, symlinks=True, copy_function=shutil.copy)
    os.mkdir(ws.temp)
    os.mkdir(ws.tool_cache)
    return ws


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
