"""Users, roles, passwords, API tokens and the audit log of the team server.

Passwords are argon2 hashes (argon2-cffi). A token is `slt_` + 43 random URL-safe
characters, shown once; the store keeps only its sha256 (a token is already
high-entropy, so a fast hash is enough and lets a request find it by index).
Failed logins are audited; so is every token created or revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from stageline.errors import ConfigError, RunError

if TYPE_CHECKING:
    from stageline.app.serverdata import ServerData
    from stageline.store.server_records import AuditRow, TokenRow, UserRow

TOKEN_PREFIX = "slt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class NoSuchToken(RunError):
    """No live token by that id for that user."""


class Role(Enum):
    """What a user may do; each role may do everything the ones below it may, except
    that `WORKER` (a worker machine's account, ADR 0012) sees no page: it may only call
    the agent routes, which admit it and `ADMIN`."""

    WORKER = "worker"
    VIEWER = "viewer"
    DEVELOPER = "developer"  # trigger, cancel, re-run
    REVIEWER = "reviewer"  # decide the gates whose rules name them
    ADMIN = "admin"  # repositories, users, everyone's tokens, the audit log

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Role) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Role) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Role) else NotImplemented

    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Role) else NotImplemented

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ConfigError(f"unknown role {text!r}", hint=f"one of {names}") from None


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    hashed: str = _hasher().hash(password)
    return hashed


def _password_matches(hashed: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    server: ServerData,
    name: str,
    role: Role,
    emails: Iterable[str] = (),
    password: str | None = None,
    *,
    by: str = "",
) -> UserRow:
    """A new user (`password` None: one who signs in with tokens only)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid user name {name!r}",
            hint="letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    listed = [e.strip() for e in emails]
    for email in listed:
        if not _EMAIL.match(email):
            raise ConfigError(f"invalid email {email!r}")
    if password is not None and not password:
        raise ConfigError("empty password", hint="give one on stdin, or none for a token-only user")
    hashed = hash_password(password) if password is not None else None
    user = server.store.server.add_user(name, role.value, listed, hashed)
    audit(server, by or name, "user.add", name, {"role": role.value, "emails": list(user.emails)})
    return user


def role_of(user: UserRow) -> Role:
    return Role(user.role)


def authenticate_password(server: ServerData, name: str, password: str) -> UserRow | None:
    """The user when `password` is theirs; None (audited as a failed login) otherwise."""
    user = server.store.server.get_user(name)
    if user is not None and user.password_hash and _password_matches(user.password_hash, password):
        return user
    audit(server, name, "login.failed", name, {"via": "password"})
    return None


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_expiry(expires: str | None, now: float | None = None) -> datetime | None:
    """`30d`, `12h`, `90m`... (days besides `stageline.durations`' units) from now; `never`
    or None for a token that does not expire."""
    from stageline.durations import parse_duration

    if expires is None or expires.strip().lower() in ("never", "0"):
        return None
    text = expires.strip()
    days = re.fullmatch(r"(\d+)d(.*)", text)
    seconds = 0.0
    if days:
        seconds = int(days.group(1)) * 86400.0
        text = days.group(2)
    if text:
        seconds += parse_duration(text).total_seconds()
    if seconds <= 0:
        raise ConfigError(f"invalid expiry {expires!r}", hint="for example 30d, 12h or never")
    return datetime.fromtimestamp((time.time() if now is None else now) + seconds, UTC)


def create_token(
    server: ServerData,
    user: UserRow,
    name: str = "",
    expires: str | None = "30d",
    *,
    by: str = "",
) -> tuple[str, TokenRow]:
    """A new token for `user`: its plaintext (shown once, never stored) and its row."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = server.store.server.add_token(
        user.id, name or "token", token_hash(plaintext), parse_expiry(expires)
    )
    audit(
        server, by or user.name, "token.create", user.name, {"token_id": row.id, "name": row.name}
    )
    return plaintext, row


def authenticate_token(server: ServerData, plaintext: str) -> UserRow | None:
    """The user of a live token; None when it is unknown, revoked or expired (audited)."""
    found = None
    if plaintext.startswith(TOKEN_PREFIX):
        found = server.store.server.token_by_hash(token_hash(plaintext))
    if found is None:
        audit(server, "", "login.failed", "", {"via": "token"})
        return None
    return found[1]


def revoke_token(server: ServerData, token_id: int, by: UserRow) -> TokenRow:
    """Revoke a token of `by` (an admin may revoke anyone's); RunError when there is no
    such live token for them."""
    token = server.store.server.get_token(token_id)
    allowed = token is not None and (token.user_id == by.id or role_of(by) >= Role.ADMIN)
    if token is None or not allowed or not server.store.server.revoke_token(token_id):
        raise NoSuchToken(f"no live token {token_id}")
    audit(server, by.name, "token.revoke", str(token_id), {"user_id": token.user_id})
    return token


def audit(
    server: ServerData, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
) -> None:
    """Write one line of the audit log (`action` like `run.cancel`, `gate.approve`)."""
    server.store.server.audit(actor, action, target, detail)


def audit_log(server: ServerData, limit: int = 100, before: int | None = None) -> list[AuditRow]:
    return server.store.server.list_audit(limit, before)


__all__ = [
    "TOKEN_PREFIX",
    "NoSuchToken",
    "Role",
    "add_user",
    "audit",
    "audit_log",
    "authenticate_password",
    "authenticate_token",
    "create_token",
    "hash_password",
    "parse_expiry",
    "revoke_token",
    "role_of",
    "token_hash",
]
