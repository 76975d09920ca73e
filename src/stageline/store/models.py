"""The record's tables, as SQLAlchemy 2 declarative models.

Only the store package touches these classes: the stores (`store.sqlite`,
`store.sql`) return plain dataclasses, so no ORM row leaks to the CLI or the
engine. Writes on the hot path go through the tables' Core statements
(`Model.__table__`) because per-job bookkeeping must stay around a millisecond.

Times are timestamps (`UTCDateTime`), read back as aware UTC datetimes; JSON columns
hold plain data. Which columns are which is pinned to `store.columns` by a test.
A change here needs an Alembic migration in `store/migrations/versions`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from stageline.store.columns import epoch, moment


class _UnixSeconds(sqlite.DATETIME):
    """SQLite's `DATETIME` column holding Unix seconds as they are (no text formatting)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp: `timestamptz` on PostgreSQL, Unix seconds on SQLite (`store.columns`).

    Accepts `time.time()` floats and datetimes; returns aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _UnixSeconds()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> float | datetime | None:
        if value is None:
            return None
        return epoch(value) if dialect.name == "sqlite" else moment(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else moment(value)


class Base(DeclarativeBase):
    """Metadata of every table (Alembic compares migrations against it)."""


class Run(Base):
    """One run of one workflow. `number` counts per repository (`repo_path`)."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("repo_path", "number", name="uq_runs_repo_number"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_concurrency", "concurrency_group", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    repo_path: Mapped[str] = mapped_column(String(1024))
    repository: Mapped[str] = mapped_column(String(255), default="")
    workflow: Mapped[str] = mapped_column(String(255))
    workflow_path: Mapped[str] = mapped_column(String(1024))
    event: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(255), default="")
    sha: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16))
    conclusion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Set by another process (or a newer run of the group) to ask this run to stop.
    cancel_requested: Mapped[str | None] = mapped_column(Text, nullable=True)
    concurrency_group: Mapped[str | None] = mapped_column(String(512), nullable=True)
    log_dir: Mapped[str] = mapped_column(String(1024), default="")
    #: The compiled plan (`Plan.to_dict()`), so a run can be shown and later resumed.
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Job(Base):
    """One planned job (a matrix leg is its own row). `key` is unique per run."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("run_id", "key", name="uq_jobs_run_key"),
        Index("ix_jobs_concurrency", "concurrency_group", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(512))
    job_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(512))
    position: Mapped[int] = mapped_column(Integer, default=0)
    needs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    matrix: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    environment: Mapped[str | None] = mapped_column(String(255), nullable=True)
    concurrency_group: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    conclusion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Set by another run (job-level `cancel-in-progress`) to ask this job to stop.
    cancel_requested: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The machine that ran the job, as GitHub's `runner_name`: a worker's name, or this
    #: host's for the local executor (migration 0005).
    runner_name: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "job_key", "number", name="uq_steps"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_key: Mapped[str] = mapped_column(String(512))
    #: The step's index in the job (0-based, as `PlannedStep.index`).
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    conclusion: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    log_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    log_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_key: Mapped[str] = mapped_column(String(512))
    step_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    file: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    col: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_key: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512))
    path: Mapped[str] = mapped_column(String(1024), default="")
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventRow(Base):
    """Append-only log of every transition and reported event (audit, notifications)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
