"""Who is deciding or deploying: ``--as``, else STAGELINE_USER, else git's user.email
mapped under ``users:`` in `.stageline.yml`.

Kept light (no store, no engine): `stageline approve` and the interactive prompt of
`stageline run` import it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from stageline.deploy.config import StagelineConfig
from stageline.errors import ConfigError


def who_am_i(config: StagelineConfig, repo_dir: str, explicit: str | None) -> str:
    """The user name to record for this process; raises ConfigError when it cannot be told."""
    done = subprocess.run(
        ["git", "config", "user.email"], cwd=repo_dir, capture_output=True, text=True, check=False
    )
    email = done.stdout.strip() if done.returncode == 0 else None
    return resolve_reviewer(config, explicit=explicit, environ=os.environ, git_email=email or None)


def resolve_reviewer(
    config: StagelineConfig,
    *,
    explicit: str | None,
    environ: Mapping[str, str],
    git_email: str | None,
) -> str:
    """Who is deciding: ``--as``, else ``STAGELINE_USER``, else git's user.email mapped
    under ``users:`` in `.stageline.yml`."""
    if explicit:
        return explicit
    if environ.get("STAGELINE_USER"):
        return environ["STAGELINE_USER"]
    if git_email:
        user = config.user_for_email(git_email)
        if user:
            return user
        raise ConfigError(
            f"git user.email {git_email} is not mapped to a user",
            hint=f"add users: {{{git_email}: <name>}} to .stageline.yml, or pass --as NAME",
        )
    raise ConfigError(
        "cannot tell who you are",
        hint="pass --as NAME, set STAGELINE_USER, or map git's user.email under users: "
        "in .stageline.yml",
    )


__all__ = ["resolve_reviewer", "who_am_i"]
