"""The team server's tables: repositories, users and tokens, triggers, run links,
schedules, the audit log (ADR 0011).

Same declarative `Base` as `store.models` (one metadata, one Alembic history, migration
0004). Only `store.server_sql` touches these classes.

* `repos` — registered repositories; `mirror_path` is the server's bare mirror, which is
  also the `repo_path` of their runs, so runs are numbered per registered repository.
* `users`, `user_emails` — an email maps a commit author to at most one user.
* `tokens` — API tokens by sha256 hash; revoked or expired ones are kept for the record.
* `triggers` — every event received; `(source, delivery_id)` is unique: the replay guard.
* `run_links` — a run's repository, trigger, and who started or authored it.
* `schedules` — the last time each `on.schedule` cron of a workflow fired.
* `audit_log` — who did what (triggers, cancels, decisions, token changes, failed logins).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stageline.store.models import Base, UTCDateTime


class Repo(Base):
    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(String(1024))
    mirror_path: Mapped[str] = mapped_column(String(1024))
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserEmail(Base):
    __tablename__ = "user_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Trigger(Base):
    __tablename__ = "triggers"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_triggers_delivery"),
        Index("ix_triggers_repo", "repo_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_id: Mapped[int | None] = mapped_column(
        ForeignKey("repos.id", ondelete="SET NULL"), nullable=True
    )
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ref: Mapped[str] = mapped_column(String(255), default="")
    sha: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(255), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    run_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)


class RunLinkRow(Base):
    __tablename__ = "run_links"
    __table_args__ = (Index("ix_run_links_repo", "repo_id", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("triggers.id", ondelete="SET NULL"), nullable=True
    )
    started_by: Mapped[str] = mapped_column(String(255), default="")
    author_email: Mapped[str] = mapped_column(String(320), default="")


class Schedule(Base):
    __tablename__ = "schedules"

    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    workflow: Mapped[str] = mapped_column(String(1024), primary_key=True)
    cron: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Audit(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(1024), default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
