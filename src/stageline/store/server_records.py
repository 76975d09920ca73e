"""What the server port (`store.server`, `ServerStore`) hands out.

Plain frozen dataclasses, like `store.records`: no ORM row leaves the store package.
Secrets (password and token hashes, webhook secrets) stay out of `repr`, so a row in
a log line or a traceback shows none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: `TriggerRow.outcome` once the trigger was handled.
TRIGGER_OUTCOMES = ("started", "nothing", "error")


@dataclass(frozen=True, slots=True)
class RepoRow:
    """A registered repository and the server's bare mirror of it."""

    id: int
    name: str
    url: str
    mirror_path: str
    created_at: datetime
    webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user; `role` is a `Role` value (`app.accounts`), `emails` map commit authors."""

    id: int
    name: str
    role: str
    emails: tuple[str, ...]
    created_at: datetime
    password_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token; only its sha256 hash is kept."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    token_hash: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class TriggerRow:
    """One event the server received (webhook, hook, schedule, dispatch), and what it
    led to: `outcome` is None until handled, then one of `TRIGGER_OUTCOMES`."""

    id: int
    repo_id: int | None
    source: str
    kind: str
    delivery_id: str | None
    ref: str
    sha: str
    actor: str
    payload: dict[str, Any]
    created_at: datetime
    outcome: str | None
    reason: str | None
    run_ids: list[int]


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunLink:
    """What ties a run of the server to its repository, its trigger and its author."""

    run_id: int
    repo_id: int
    trigger_id: int | None
    started_by: str
    author_email: str


__all__ = [
    "TRIGGER_OUTCOMES",
    "AuditRow",
    "RepoRow",
    "RunLink",
    "TokenRow",
    "TriggerRow",
    "UserRow",
]
