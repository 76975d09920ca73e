"""`SecretStore`: the secrets table (`secret_models`), encrypted with Fernet.

A value is encrypted before it reaches the table and decrypted when it leaves it, so
the database (a file, a dump, a replica) never holds one in clear text. The key is
`$STAGELINE_SECRET_KEY` (a Fernet key: 32 url-safe base64 bytes), else the file
`<store home>/secrets.key`, created 0600 on first use beside the SQLite file and never
written to the database. Processes on several machines sharing one PostgreSQL store
must share the key, so they set `STAGELINE_SECRET_KEY`.

The statements are plain SQL with named parameters that SQLite's `sqlite3` and
SQLAlchemy's `text()` both accept: on SQLite a run reads its secrets without loading
SQLAlchemy, and `cryptography` loads only when there is something to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stageline.errors import ConfigError, StoreError
from stageline.store.columns import moment

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_ENV = "STAGELINE_SECRET_KEY"
KEY_FILE = "secrets.key"

#: GitHub's rule for secret names: letters, digits, underscores, not starting with a digit.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Runs one statement in its own transaction: (rows, rowcount).
Execute = Callable[[str, dict[str, Any]], tuple[list[tuple[Any, ...]], int]]


@dataclass(frozen=True, slots=True)
class SecretEntry:
    """A secret as listed: never its value."""

    scope: str
    environment: str
    name: str
    created_at: datetime


def check_name(name: str) -> str:
    """`name` upper-cased, as GitHub stores it; ConfigError when it is not a valid name."""
    if not _NAME.match(name) or name.upper().startswith("GITHUB_"):
        raise ConfigError(
            f"invalid secret name {name!r}: use letters, digits and underscores, not starting "
            "with a digit or GITHUB_"
        )
    return name.upper()


class SecretStore:
    """Secrets per scope (a repository) and environment ('' for the repository's own)."""

    def __init__(self, execute: Execute, home: Path, *, unix_times: bool) -> None:
        self._execute = execute
        self._home = home
        self._unix_times = unix_times
        self._fernet: Fernet | None = None

    @property
    def key_location(self) -> str:
        """Where the key comes from, for messages and docs."""
        return f"${KEY_ENV}" if os.environ.get(KEY_ENV) else str(self._home / KEY_FILE)

    def put(self, scope: str, name: str, value: str, environment: str = "") -> bool:
        """Set a secret (encrypted); True when it is new, False when it replaced one."""
        name = check_name(name)
        token = self._cipher().encrypt(value.encode("utf-8")).decode("ascii")
        where = {"scope": scope, "environment": environment, "name": name}
        rows, _ = self._execute(
            "SELECT 1 FROM secrets WHERE scope = :scope AND environment = :environment "
            "AND name = :name",
            where,
        )
        now: float | datetime = time.time() if self._unix_times else datetime.now(UTC)
        self._execute(
            "INSERT INTO secrets (scope, environment, name, value, created_at) "
            "VALUES (:scope, :environment, :name, :value, :now) "
            "ON CONFLICT (scope, environment, name) "
            "DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            {**where, "value": token, "now": now},
        )
        return not rows

    def remove(self, scope: str, name: str, environment: str = "") -> bool:
        """Delete a secret; False when there was none."""
        _, count = self._execute(
            "DELETE FROM secrets WHERE scope = :scope AND environment = :environment "
            "AND name = :name",
            {"scope": scope, "environment": environment, "name": name.upper()},
        )
        return count > 0

    def entries(self, scope: str) -> list[SecretEntry]:
        """The scope's secrets by environment ('' first), then name: names only."""
        rows, _ = self._execute(
            "SELECT scope, environment, name, created_at FROM secrets WHERE scope = :scope "
            "ORDER BY environment, name",
            {"scope": scope},
        )
        return [SecretEntry(str(s), str(e), str(n), moment(at)) for s, e, n, at in rows]

    def values(self, scope: str, environment: str = "") -> dict[str, str]:
        """The decrypted secrets of `scope` for `environment` ('' : the repository's)."""
        rows, _ = self._execute(
            "SELECT name, value FROM secrets WHERE scope = :scope AND environment = :environment",
            {"scope": scope, "environment": environment},
        )
        if not rows:
            return {}
        from cryptography.fernet import InvalidToken

        cipher = self._cipher()
        found: dict[str, str] = {}
        for name, token in rows:
            try:
                found[str(name)] = cipher.decrypt(str(token).encode("ascii")).decode("utf-8")
            except InvalidToken:
                raise StoreError(
                    f"cannot decrypt secret {name}: the key at {self.key_location} is not the "
                    "one it was stored with",
                    hint=f"set {KEY_ENV} to the key it was stored with, or set the secret again",
                ) from None
        return found

    def scope_of(self, repo_path: str) -> str:
        """The scope of runs of `repo_path`: the registered repository whose mirror it is
        (on the team server), else the path itself."""
        rows, _ = self._execute(
            "SELECT name FROM repos WHERE mirror_path = :path", {"path": repo_path}
        )
        return str(rows[0][0]) if rows else repo_path

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            key = os.environ.get(KEY_ENV) or _key_file(self._home / KEY_FILE)
            try:
                if len(base64.urlsafe_b64decode(key.encode("ascii"))) != 32:
                    raise ValueError
                self._fernet = Fernet(key.encode("ascii"))
            except (ValueError, binascii.Error, UnicodeEncodeError):
                raise StoreError(
                    f"the secrets key at {self.key_location} is not a Fernet key",
                    hint="make one with: python3 -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                ) from None
        return self._fernet


def _key_file(path: Path) -> str:
    """The key in `path`, made 0600 on first use. Written whole to a temporary file and
    linked into place, so of racing processes one makes it and none reads it half-written."""
    if not path.exists():
        from cryptography.fernet import Fernet

        try:
            fd, tmp = tempfile.mkstemp(prefix=".secret-key-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(Fernet.generate_key() + b"\n")
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        except OSError as err:
            raise StoreError(f"cannot create the secrets key {path}: {err.strerror}") from err
    try:
        return path.read_text().strip()
    except OSError as err:
        raise StoreError(f"cannot read the secrets key {path}: {err.strerror}") from err


__all__ = ["KEY_ENV", "KEY_FILE", "SecretEntry", "SecretStore", "check_name"]
