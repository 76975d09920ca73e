"""The secrets store (issue 13): set, list and remove a repository's secrets.

A secret belongs to a *scope*, the repository its runs record: locally the
repository's root (the runs' `repo_path`), on the team server the registered
repository's name. A repository secret (no environment) reaches every job of its
runs; an environment's secret reaches a job only once the job's environment gate has
passed (`deploy.gatekeeper`), as on GitHub. Values given with ``--secret`` or
``--secret-file`` (or the repository's `.secrets` file) take precedence over both.
Values are encrypted at rest (`store.secret_sql`); nothing here ever returns one
except to a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stageline.errors import ConfigError, RunError

if TYPE_CHECKING:
    from stageline.app.context import Context
    from stageline.app.serverdata import ServerData
    from stageline.store import Store
    from stageline.store.secret_sql import SecretEntry


class NoSuchSecret(RunError):
    """No secret by that name (the API answers 404)."""


def read_value(data: bytes) -> str:
    """A value as read from stdin: UTF-8 text, one trailing newline (``echo``'s) dropped;
    an empty value, or one that is not text, is refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            "the secret's value is not UTF-8 text",
            hint="store binary data base64-encoded: base64 -w0 FILE | stageline secret set NAME",
        ) from None
    value = text[:-1] if text.endswith("\n") else text
    value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise ConfigError(
            "the secret's value is empty", hint="pipe it in: printf %s VALUE | stageline secret set"
        )
    return value


def repo_secrets(store: Store, repo_path: str) -> dict[str, str]:
    """The repository secrets of runs of `repo_path`, decrypted (for a run only)."""
    secrets = store.secrets
    return secrets.values(secrets.scope_of(repo_path))


def set_secret(
    store: Store, scope: str, name: str, value: str, environment: str | None = None
) -> bool:
    """Store (encrypted) `name` of `scope`, for `environment` or the repository; True
    when it is new, False when it replaced a value."""
    return store.secrets.put(scope, name, value, environment or "")


def list_secrets(store: Store, scope: str) -> list[SecretEntry]:
    """The names of `scope`'s secrets, never their values."""
    return store.secrets.entries(scope)


def remove_secret(store: Store, scope: str, name: str, environment: str | None = None) -> None:
    if not store.secrets.remove(scope, name, environment or ""):
        where = f" of environment '{environment}'" if environment else ""
        raise NoSuchSecret(f"no secret {name.upper()}{where}", hint="see `stageline secret list`")


def local_scope(ctx: Context) -> str:
    """The scope of the local repository: its root, as its runs record it."""
    return str(ctx.root)


def server_scope(server: ServerData, repo: str) -> str:
    """The scope of registered repository `repo` (raises `UnknownRepo`)."""
    from stageline.app.served import repo as registered

    return registered(server, repo).name


def audited(server: ServerData, who: str, action: str, repo: str, detail: dict[str, str]) -> None:
    """One line of the audit log: which secret changed, never its value."""
    from stageline.app.accounts import audit

    audit(server, who, action, repo, detail)


__all__ = [
    "NoSuchSecret",
    "audited",
    "list_secrets",
    "local_scope",
    "read_value",
    "remove_secret",
    "repo_secrets",
    "server_scope",
    "set_secret",
]
