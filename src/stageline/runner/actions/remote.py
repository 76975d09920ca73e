"""Remote actions: `OWNER/REPO[/PATH]@REF` (or a full `https://host/OWNER/REPO@REF`) fetched
with the `git` command into one cache shared by every run of the user.

The cache (`$XDG_CACHE_HOME/stageline/actions`, default ``~/.cache/stageline/actions``)
holds a bare repository per OWNER/REPO (``OWNER/REPO.git``, for a full URL
``<host>/OWNER/REPO.git``) and a checked-out tree per commit (``OWNER/REPO@<sha>``).
Concurrent runs share it: a file lock per repository serialises fetches and
checkouts, and a tree appears only complete (written to a temp dir, then renamed), so a
reader never sees half of one.

A REF (tag, branch or SHA) is resolved to a commit SHA. The run's pre-run check fetches
(the network's view of a branch wins); the steps then find that commit in the cache.
Offline (`set_offline` or ``STAGELINE_OFFLINE=1``) nothing is fetched.

Each use touches the tree and its bare repository, so their mtimes say when they were last
used; `prune` removes what was not used for a while, then the least recently used until
the cache fits a size.
"""

from __future__ import annotations

import fcntl
import glob
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stageline.runner.places import user_cache

DEFAULT_URL = "https://github.com"
_SHORT = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)(?P<sub>(?:/[^@]+)?)@(?P<ref>.+)$")
_URL = re.compile(
    r"^(?P<base>(?:https?|git|ssh|file)://[^/]+)/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?"
    r"(?P<sub>(?:/[^@]+)?)@(?P<ref>.+)$"
)
_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")
_GIT_TIMEOUT_S = 300.0


class FetchError(Exception):
    """A remote action could not be had; the message is one line, for the user."""


def set_offline(value: bool = True) -> None:
    """Use only the cache (what `stageline run --offline` sets): through the environment,
    so that processes started from this one (executors, nested runs) are offline too."""
    if value:
        os.environ["STAGELINE_OFFLINE"] = "1"
    else:
        os.environ.pop("STAGELINE_OFFLINE", None)


def offline() -> bool:
    return os.environ.get("STAGELINE_OFFLINE", "") not in ("", "0", "false")


def cache_root() -> Path:
    return user_cache("actions")


@dataclass(frozen=True, slots=True)
class ActionRef:
    """A remote `uses:` taken apart."""

    uses: str
    owner: str
    repo: str
    sub: str  # path inside the repository, without slashes around it ("" for the root)
    ref: str
    url: str  # what `git fetch` is given
    key: str  # the repository's place in the cache, relative to `cache_root()`


def parse(uses: str) -> ActionRef | None:
    """`uses` as a remote action, or None when it names none."""
    match = _URL.match(uses)
    if match:
        base = match["base"]
        host = base.split("://", 1)[1].replace(":", "_")
        prefix = f"{host}/"
    else:
        match = _SHORT.match(uses)
        if not match:
            return None
        base = os.environ.get("STAGELINE_ACTIONS_URL", "").rstrip("/") or DEFAULT_URL
        prefix = ""
    owner, repo = match["owner"], match["repo"]
    return ActionRef(
        uses=uses,
        owner=owner,
        repo=repo,
        sub=match["sub"].strip("/"),
        ref=match["ref"],
        url=f"{base}/{owner}/{repo}",
        key=f"{prefix}{owner}/{repo}",
    )


@dataclass(frozen=True, slots=True)
class Fetched:
    sha: str
    directory: str  # the action's directory (the checkout, plus the PATH of `uses`)


#: ref resolutions made by this process, by (bare repository, ref): a run fetches a
#: branch once, and its steps use the commit its pre-run check fetched.
_resolved: dict[tuple[Path, str], str] = {}


def fetch(
    action: ActionRef,
    *,
    refresh: bool = False,
    prefer_cache: bool = False,
    cache_only: bool = False,
) -> Fetched:
    """The action's commit and directory. A ref this process resolved before keeps its
    commit unless `refresh`; otherwise the ref is fetched, unless offline (or
    `cache_only`), or the cache resolves it and it is a full SHA or `prefer_cache`.
    Raises FetchError."""
    cache_only = cache_only or offline()
    root = cache_root()
    bare = root / f"{action.key}.git"
    memo = (bare, action.ref)
    if cache_only and not (bare / "HEAD").is_file():
        raise _not_cached(action, root)
    with _locked(bare):
        sha = None if refresh else _resolved.get(memo)
        full_sha = len(action.ref) == 40 and _HEX.match(action.ref) is not None
        if sha is None and (cache_only or prefer_cache or (full_sha and not refresh)):
            sha = _local_sha(bare, action.ref)  # a full SHA names the same commit forever
        if sha is None:
            if cache_only:
                raise _not_cached(action, root)
            _fetch(bare, action)
            sha = _local_sha(bare, action.ref)
            if sha is None:
                raise FetchError(
                    f"action '{action.uses}': no tag, branch or commit '{action.ref}' "
                    f"in {action.url}"
                )
        _resolved[memo] = sha
        tree = root / f"{action.key}@{sha}"
        if not tree.is_dir():
            _checkout(bare, sha, tree)
        for used in (tree, bare):
            if used.exists():
                os.utime(used)
    return Fetched(sha, str(tree / action.sub) if action.sub else str(tree))


def _not_cached(action: ActionRef, root: Path) -> FetchError:
    return FetchError(
        f"action '{action.uses}' is not in the action cache ({root}) and Stageline is "
        f"offline: run `stageline actions pull` first (it fetches from {action.url}), or "
        f"vendor it in .stageline/actions/{action.owner}/{action.repo}@{action.ref}/"
    )


@contextmanager
def _locked(bare: Path) -> Iterator[None]:
    bare.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{bare}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    return subprocess.run(
        ["git", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=_GIT_TIMEOUT_S,
        check=False,
    )


def _fetch(bare: Path, action: ActionRef) -> None:
    if not (bare / "HEAD").is_file():
        tmp = Path(tempfile.mkdtemp(prefix=".init-", dir=bare.parent))
        done = _git("init", "-q", "--bare", str(tmp))
        if done.returncode:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FetchError(f"cannot create the action cache {bare}: {_last(done.stderr)}")
        tmp.rename(bare)
    refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    try:
        done = _git("--git-dir", str(bare), "fetch", "-q", "--prune", action.url, *refspecs)
    except subprocess.TimeoutExpired:
        message = f"cannot fetch action '{action.uses}' from {action.url}: timed out"
        raise FetchError(message) from None
    if done.returncode:
        raise FetchError(
            f"cannot fetch action '{action.uses}' from {action.url}: {_last(done.stderr)}"
        )


def _last(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "git failed"


def _local_sha(bare: Path, ref: str) -> str | None:
    """The commit `ref` names in the bare repository: a tag, else a branch, else a SHA."""
    if not (bare / "HEAD").is_file():
        return None
    candidates = [f"refs/tags/{ref}", f"refs/heads/{ref}"]
    if _HEX.match(ref):
        candidates.append(ref)
    for name in candidates:
        done = _git("--git-dir", str(bare), "rev-parse", "-q", "--verify", f"{name}^{{commit}}")
        if done.returncode == 0:
            return done.stdout.decode().strip()
    return None


def _checkout(bare: Path, sha: str, tree: Path) -> None:
    """The commit's files at `tree`, which appears complete or not at all."""
    done = _git("--git-dir", str(bare), "archive", "--format=tar", sha)
    if done.returncode:
        raise FetchError(f"cannot check out {sha} from {bare}: {_last(done.stderr)}")
    tmp = Path(tempfile.mkdtemp(prefix=".tree-", dir=tree.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(tmp, filter="data")
        tmp.rename(tree)
    except OSError:
        if not tree.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: What a size-bounded prune keeps whatever the size: a run may be using it right now.
RECENT_S = 3600.0


@dataclass(frozen=True, slots=True)
class Entry:
    """A tree (``OWNER/REPO@sha``) or a bare repository (``OWNER/REPO.git``) of the cache."""

    path: Path
    bare: Path  # the repository whose lock guards it
    used: float  # last use, seconds since the epoch
    size: int  # bytes


def entries(root: Path | None = None) -> list[Entry]:
    """Every tree and bare repository of the cache, least recently used first."""
    root = root or cache_root()
    found: list[Entry] = []
    if not root.is_dir():
        return found
    for lock in root.rglob("*.git.lock"):
        bare = lock.with_suffix("")
        name = bare.name.removesuffix(".git")
        paths = [bare, *bare.parent.glob(f"{glob.escape(name)}@*")]
        for path in paths:
            if path.is_dir():
                found.append(Entry(path, bare, path.stat().st_mtime, _size(path)))
    return sorted(found, key=lambda e: (e.used, str(e.path)))


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(folder, file)).st_size
            except OSError:
                continue
    return total


def prune(
    older_than: float | None, max_bytes: int | None = None, *, now: float | None = None
) -> list[Entry]:
    """Remove the entries unused for `older_than` seconds, then, while the cache is larger
    than `max_bytes`, the least recently used ones not used in the last `RECENT_S`. Each
    goes under its repository's lock (moved aside, then deleted), so a fetch never sees
    half of one. The entries removed."""
    now = time.time() if now is None else now
    remaining = entries()
    total = sum(e.size for e in remaining)
    removed: list[Entry] = []
    for entry in remaining:
        stale = older_than is not None and entry.used < now - older_than
        too_big = max_bytes is not None and total > max_bytes and entry.used < now - RECENT_S
        if (stale or too_big) and _remove(entry):
            removed.append(entry)
            total -= entry.size
    return removed


def _remove(entry: Entry) -> bool:
    with _locked(entry.bare):
        if not entry.path.is_dir() or entry.path.stat().st_mtime > entry.used:
            return False  # used since it was listed
        aside = Path(tempfile.mkdtemp(prefix=".gone-", dir=entry.path.parent))
        entry.path.rename(aside / "entry")
    shutil.rmtree(aside, ignore_errors=True)
    return True


__all__ = [
    "ActionRef",
    "Entry",
    "FetchError",
    "Fetched",
    "cache_root",
    "entries",
    "fetch",
    "offline",
    "parse",
    "prune",
]
