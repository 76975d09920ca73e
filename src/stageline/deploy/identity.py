"""Who is deciding or deploying: ``--as``, else STAGELINE_USER, else git's user.email
mapped under ``users:`` in `.stageline.yml` (kept light: `stageline approve` imports it)."""

from __future__ import annotations

import os
import subprocess

from stageline.deploy.config import StagelineConfig
from stageline.deploy.gates import resolve_reviewer


def who_am_i(config: StagelineConfig, repo_dir: str, explicit: str | None) -> str:
    """The user name to record; raises ConfigError when it cannot be told."""
    done = subprocess.run(
        ["git", "config", "user.email"], cwd=repo_dir, capture_output=True, text=True, check=False
    )
    email = done.stdout.strip() if done.returncode == 0 else None
    return resolve_reviewer(config, explicit=explicit, environ=os.environ, git_email=email or None)


__all__ = ["who_am_i"]
