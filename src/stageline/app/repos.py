"""Registered repositories: the server's bare mirror of each, fetched before a run is
planned, and checkouts of single commits to plan from.

A URL is a local path, `file://...` or `https://...`. `mirrors/<name>.git` is a `git
clone --mirror`; its path is the `repo_path` of the repository's runs (so runs are
numbered per registered repository) and the source jobs check out from.
`checkouts/<name>/<sha>/<name>` is a detached working tree of one commit, made once and
reused: `.stageline.yml` and the workflows are read from the commit that was pushed.
`prune_checkouts` removes those no unfinished run uses once they are an hour old; a
resume or re-run makes its checkout again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from stageline.app.accounts import audit
from stageline.errors import ConfigError, RunError

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import RepoRow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}


def _git(*args: str, cwd: str | Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_GIT_ENV},
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RunError(f"git {args[0]} failed: {lines[-1] if lines else done.returncode}")
    return done.stdout.strip()


def normalize_url(url: str) -> str:
    """An https URL or `file://` URL as given; a local path made absolute. Other
    schemes (ssh, git, http) are refused: the server fetches with no credentials."""
    text = url.strip()
    if text.startswith(("https://", "file://")):
        return text
    if re.match(r"^[a-z][a-z0-9+.-]*://", text) or re.match(r"^[^/]+@[^:]+:", text):
        raise ConfigError(
            f"unsupported repository URL {url!r}",
            hint="use https://..., file://... or a local path",
        )
    try:
        path = Path(text).expanduser().resolve()
        found = path.is_dir()
    except (OSError, ValueError) as err:  # a name too long, a NUL byte...
        raise ConfigError(f"invalid repository path {url!r}: {err}") from err
    if not found:
        raise ConfigError(f"no repository at {path}")
    return str(path)


def add_repo(
    server: ServerData,
    name: str,
    url: str,
    webhook_secret: str | None = None,
    *,
    by: str = "",
) -> RepoRow:
    """Register `url` as `name`: mirror it into `mirrors/<name>.git`, then record it."""
    if not _NAME.match(name) or name.endswith(".git"):
        raise ConfigError(
            f"invalid repository name {name!r}",
            hint="letters, digits, '.', '_' and '-', not ending in .git",
        )
    source = normalize_url(url)
    if server.store.server.get_repo(name) is not None:
        raise ConfigError(f"a repository named {name!r} is already registered")
    mirror = server.mirrors_dir / f"{name}.git"
    if mirror.exists():
        shutil.rmtree(mirror)  # a left-over of an attempt that failed to record
    _git("clone", "--quiet", "--mirror", source, str(mirror))
    try:
        repo = server.store.server.add_repo(name, source, str(mirror), webhook_secret or None)
    except BaseException:
        shutil.rmtree(mirror, ignore_errors=True)
        raise
    audit(server, by, "repo.add", name, {"url": source})
    return repo


def get_repo(server: ServerData, name: str) -> RepoRow:
    repo = server.store.server.get_repo(name)
    if repo is None:
        raise RunError(f"no repository named {name!r} is registered")
    return repo


def fetch(server: ServerData, repo: RepoRow, sha_or_ref: str) -> str:
    """Update the mirror unless it already has `sha_or_ref` (a full sha); the commit's sha."""
    if _SHA.match(sha_or_ref) and _has_commit(repo, sha_or_ref):
        return sha_or_ref
    _git("remote", "update", "--prune", cwd=repo.mirror_path)
    return resolve(repo, sha_or_ref)


def _has_commit(repo: RepoRow, sha: str) -> bool:
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"],
        cwd=repo.mirror_path,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def resolve(repo: RepoRow, sha_or_ref: str) -> str:
    """The commit `sha_or_ref` names in the mirror."""
    for candidate in (sha_or_ref, f"refs/heads/{sha_or_ref}", f"refs/tags/{sha_or_ref}"):
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=repo.mirror_path,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip()
    raise RunError(f"{repo.name}: no commit {sha_or_ref!r} in the repository")


def checkout(server: ServerData, repo: RepoRow, sha: str, ref: str = "") -> Path:
    """A working tree of commit `sha` (from the mirror) to plan a run from; made once.

    `ref` (`refs/heads/main`): the checkout's HEAD is that branch at `sha`, so the
    run's `github.ref` is the branch pushed; without it HEAD is detached.
    """
    if not _SHA.match(sha):
        sha = resolve(repo, sha)
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    # the tree's own directory is named after the repository: `github.repository`
    # of a local repository is `local/<that name>`
    target = server.checkouts_dir / repo.name / _key(sha, ref) / repo.name
    if (target / ".git").is_dir():
        os.utime(target.parent)  # in use again: `prune_checkouts` measures age from here
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".checkout-", dir=target.parent))
    try:
        _git("clone", "--quiet", "--shared", "--no-checkout", repo.mirror_path, str(staging))
        _git("remote", "set-url", "origin", repo.url, cwd=staging)
        if branch:
            _git("checkout", "--quiet", "-B", branch, sha, cwd=staging)
        else:
            _git("checkout", "--quiet", "--detach", sha, cwd=staging)
        try:
            staging.rename(target)
        except OSError:  # another thread made it first: use theirs
            if not (target / ".git").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _key(sha: str, ref: str) -> str:
    """The directory of a commit's checkout: its sha, and the branch when HEAD is one."""
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""
    return f"{sha}-{re.sub(r'[^A-Za-z0-9._-]', '_', branch)}" if branch else sha


#: A checkout no unfinished run uses is removed once it is this old (seconds).
CHECKOUT_KEEP_S = 3600.0


def prune_checkouts(
    server: ServerData, repo: RepoRow, *, keep_s: float = CHECKOUT_KEEP_S
) -> list[Path]:
    """Remove the checkouts of `repo` untouched for `keep_s` that no unfinished run was
    planned from (queued, running or waiting at a gate); the ones removed.

    Without this every push leaves a working tree behind for good. A run resumed or
    re-run later makes its checkout again (`checkout`), so nothing is lost."""
    from stageline.runs.states import ACTIVE_STATUSES

    base = server.checkouts_dir / repo.name
    if not base.is_dir():
        return []
    runs = server.store.runs
    in_use = {
        _key(run.sha, run.ref)
        for status in ACTIVE_STATUSES
        for run in runs.list_runs(repo_path=repo.mirror_path, status=status.value, limit=10_000)
    }
    cutoff = time.time() - keep_s
    removed: list[Path] = []
    for entry in base.iterdir():
        if entry.name.startswith(".") or entry.name in in_use:
            continue
        if entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


__all__ = [
    "CHECKOUT_KEEP_S",
    "add_repo",
    "checkout",
    "fetch",
    "get_repo",
    "normalize_url",
    "prune_checkouts",
    "resolve",
]
