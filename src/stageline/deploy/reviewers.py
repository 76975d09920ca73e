"""Who is deciding or deploying: ``--as``, else STAGELINE_USER, else git's user.email
mapped under ``users:`` in `.stageline.yml`.

Kept light (no store, no engine): `stageline approve` and the interactive prompt of
`stageline run` import it.
"""

from __future__ import annotations

import getpass
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


def local_origin(repo_dir: str) -> dict[str, str]:
    """Who made a decision at this terminal, whatever name it was made as (``--as``):
    the OS user and git's identity (``user.name <user.email>``), recorded with it."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        os_user = str(os.getuid())
    name, email = (_git_config(repo_dir, key) for key in ("user.name", "user.email"))
    git = f"{name} <{email}>" if name and email else name or (f"<{email}>" if email else "")
    return {"via": "local", "os_user": os_user, "git": git}


#: The keys of a decision's origin as `show --json` prints it, locally and from a server.
ORIGIN_KEYS = ("via", "os_user", "git", "user")


def origin_fields(data: Mapping[str, object]) -> dict[str, str | None]:
    """A decision's recorded origin with every key of `ORIGIN_KEYS` (None where the way
    it was made records none): one shape for a terminal's decision (``via: local``,
    ``os_user``, ``git``) and the server's (``via: server``, ``user``)."""
    return {key: str(data[key]) if data.get(key) else None for key in ORIGIN_KEYS}


def _git_config(repo_dir: str, key: str) -> str:
    done = subprocess.run(
        ["git", "config", key], cwd=repo_dir, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def describe_origin(data: Mapping[str, object]) -> str:
    """Where a decision was made, for `show` and `deployments` ('' when not recorded)."""
    via = data.get("via")
    if via == "server":
        return "via the server"
    if via != "local":
        return ""
    parts = [f"os user {data.get('os_user') or '?'}"]
    if data.get("git"):
        parts.append(f"git {data['git']}")
    return "local: " + ", ".join(parts)


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


__all__ = ["describe_origin", "local_origin", "resolve_reviewer", "who_am_i"]
