"""What a run takes from the repository it starts in (a `git` call costs ~3 ms of start-up:
the root, commit and branch come from one)."""

from __future__ import annotations

import getpass
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from stageline.errors import RunError

_REMOTE = re.compile(
    r"""^(?:
        [a-z+]+://(?:[^@/]+@)?[^/]+(?::\d+)?/   # https://host/, ssh://git@host:22/
      | [^@/:]+@[^:/]+:                        # git@host:
    )(?P<path>.+?)(?:\.git)?/?$""",
    re.VERBOSE,
)


def git(repo: Path, *args: str) -> str | None:
    """Output of a git command, or None when it fails."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def repository_from_url(url: str) -> str | None:
    """`owner/name` from a remote URL (https, ssh, scp-like), as GitHub names it."""
    match = _REMOTE.match(url.strip())
    if not match:
        return None
    parts = match.group("path").strip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


@dataclass(frozen=True, slots=True)
class GitFacts:
    root: Path
    sha: str
    ref: str  # refs/heads/<branch>, or "" on a detached HEAD
    repository: str
    actor: str
    default_branch: str


def git_facts(start: Path) -> GitFacts:
    """Facts of the repository containing `start` (raises RunError outside one)."""
    head = git(start, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    lines = head.splitlines() if head is not None else []
    if len(lines) != 3:
        _refuse(start)
    root, sha, ref = Path(lines[0]), lines[1], lines[2] if lines[2] != "HEAD" else ""
    url = git(root, "remote", "get-url", "origin")
    repository = (repository_from_url(url) if url else None) or f"local/{root.name}"
    actor = git(root, "config", "user.name") or getpass.getuser()
    origin_head = git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD")
    default = origin_head.split("/", 1)[1] if origin_head and "/" in origin_head else "main"
    return GitFacts(root, sha, ref, repository, actor, default)


def _refuse(start: Path) -> NoReturn:
    """Why `start` has no commit to run."""
    top = git(start, "rev-parse", "--show-toplevel")
    if top is None:
        raise RunError(
            f"{start} is not in a git repository",
            hint="stageline runs workflows of a git repository: `git init` and commit first",
        )
    raise RunError(f"the repository at {top} has no commit yet", hint="commit first")


def changed_paths(root: Path, sha: str) -> list[str] | None:
    """Files the commit changed (what `paths:` filters see for a push)."""
    out = git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha)
    return out.splitlines() if out is not None else None
