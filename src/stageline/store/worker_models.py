"""The dispatch tables of remote execution: job attempts and live workers (ADR 0012).

Same declarative `Base` as `store.models` (one metadata, migration 0005).

* `job_attempts` — one row per time a job is sent to a worker. The row is the job's
  lease: a worker claims it once (`queued` → `running`, a conditional UPDATE), extends
  `lease_until` with heartbeats, and the server refuses events from any attempt that is
  not the row's current `running` one (fencing). The broker holds no state that matters.
* `workers` — each worker's last heartbeat, queues and current jobs, for `stageline
  workers`, the UI, and "no worker serves [labels]".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stageline.store.models import Base, UTCDateTime


class JobAttempt(Base):
    __tablename__ = "job_attempts"
    __table_args__ = (
        Index("ix_job_attempts_job", "run_id", "job_key"),
        Index("ix_job_attempts_lease", "state", "lease_until"),
    )

    #: A uuid4 hex, sent in the task and on every call the worker makes about it.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_key: Mapped[str] = mapped_column(String(512))
    #: 1 for the first send of this job in this engine attempt, 2 for a lost job re-sent.
    number: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(255))
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: queued | running | finished | lost | cancelled
    state: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Unix seconds; a `running` attempt past it is lost.
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Why the job should stop (the next heartbeat reply tells the worker).
    cancel_requested: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The last event batch applied (a batch sent again is not applied twice).
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Worker(Base):
    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    queues: Mapped[list[Any]] = mapped_column(JSON, default=list)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Unix seconds of the last heartbeat.
    last_seen: Mapped[float] = mapped_column(Float)
    #: The attempts it runs now: [{"attempt", "run_id", "job_key"}].
    current: Mapped[list[Any]] = mapped_column(JSON, default=list)
