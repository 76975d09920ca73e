"""The delivery tables: deployments, gates, the decisions on them, rollbacks.

Same declarative `Base` as `store.models` (one metadata, one Alembic history).
Only `store.sql.SqlDeploymentStore` touches these classes; it returns plain dataclasses.

* `deployments` — one row per job (or matrix leg) that deploys to an environment,
  and one per rollback (``kind="rollback"``). The row keeps what a rollback needs to
  re-run the job later: the run's plan holds the job; `contexts` the job's
  expression contexts (needs outputs, vars, inputs; never secrets).
* `gates` — something a run waits on for an environment: the approval gate (one per
  run and environment, ``kind="approval"``) or a paused bake window (one per
  deployment, ``kind="pause"``). Its status is the last evaluation, for other
  processes to show; the decisions are the truth.
* `gate_decisions` — who decided what, when, with which comment, from any process.
  ``auto`` decisions from `hmarr/auto-approve-action` have no gate (`gate_id` null)
  and name the job that approved (`source_job`).
* `rollbacks` — one attempt to restore an environment, linked to the deployment it
  replaces and the one it restores, with the process that performs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stageline.store.models import Base, UTCDateTime


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        Index("ix_deployments_env", "environment", "status"),
        Index("ix_deployments_run", "run_id", "job_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_path: Mapped[str] = mapped_column(String(1024))
    environment: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="deploy")
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    job_key: Mapped[str] = mapped_column(String(512), default="")
    sha: Mapped[str] = mapped_column(String(64), default="")
    ref: Mapped[str] = mapped_column(String(255), default="")
    commit_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    triggered_by: Mapped[str] = mapped_column(String(255), default="")
    approved_by: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    replaces: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restores: Mapped[int | None] = mapped_column(Integer, nullable=True)
    contexts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Gate(Base):
    __tablename__ = "gates"
    __table_args__ = (
        UniqueConstraint("run_id", "environment", "kind", "deployment_id", name="uq_gates"),
        Index("ix_gates_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="approval")
    #: For a pause: the deployment whose window paused (0 for an approval gate).
    deployment_id: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    #: Who triggered the run, as reviewers are named (for prevent_self_review).
    actor: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[list[Any]] = mapped_column(JSON, default=list)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)


class GateDecision(Base):
    __tablename__ = "gate_decisions"
    __table_args__ = (Index("ix_gate_decisions_gate", "gate_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    gate_id: Mapped[int | None] = mapped_column(
        ForeignKey("gates.id", ondelete="CASCADE"), nullable=True
    )
    reviewer: Mapped[str] = mapped_column(String(255))
    #: approve | reject | rollback (rollback only on a pause).
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The job whose step approved (`hmarr/auto-approve-action`), for ``auto`` decisions.
    source_job: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: Extra data: a rollback's target deployment, ...
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Rollback(Base):
    __tablename__ = "rollbacks"
    __table_args__ = (Index("ix_rollbacks_env", "environment", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_path: Mapped[str] = mapped_column(String(1024))
    environment: Mapped[str] = mapped_column(String(255))
    #: The run whose deploy is rolled back (null for a rollback started by hand).
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    job_key: Mapped[str] = mapped_column(String(512), default="")
    replaces: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restores: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The rollback's own deployment record (kind="rollback").
    deployment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: redeploy | script
    method: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(255), default="")
    #: in_progress | success | failure
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
