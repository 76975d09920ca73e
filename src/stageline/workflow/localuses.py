"""Local actions stay inside the commit.

A local `uses: ./path` names an action of the workflow's own repository. A path that climbs
out (`./../../tmp/x`), or a symlink in the checkout pointing elsewhere, would run code the
commit does not hold, so both are refused: `validate` checks the path as written and, when
the repository is on disk, after symlinks; a run checks the job's workspace again, because
an earlier step may have created the symlink.
"""

from __future__ import annotations

import os
import posixpath

HINT = "a local action must be a directory of the repository: `uses: ./path/to/action`"


def is_local(uses: str) -> bool:
    """Whether `uses` names a path of the workflow's repository (`$/` is its root)."""
    return uses.startswith(("./", "../", "$/")) or uses == "."


def escape(uses: str, root: str | None = None) -> str | None:
    """Why the local action `uses` is outside the repository at `root` (None when it is
    inside). Without `root` only the path as written is checked."""
    relative = uses.strip().removeprefix("$/")
    written = posixpath.normpath(relative)
    if written == ".." or written.startswith("../") or posixpath.isabs(written):
        return f"the local action '{uses}' is outside the repository"
    if root is None:
        return None
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root, written))
    if target != base and not target.startswith(base + os.sep):
        return f"the local action '{uses}' resolves outside the repository (to {target})"
    return None


__all__ = ["HINT", "escape", "is_local"]
