"""Times as timestamps: SQLite's text times become Unix seconds.

PostgreSQL's columns are `timestamptz` since 0001 and need nothing. On SQLite the
columns stay `DATETIME` (no table copy); their values change from SQLAlchemy's
`YYYY-MM-DD HH:MM:SS.ffffff` text (UTC) to REAL seconds, which the run path
writes and reads without formatting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Every time column, by table (as `store.columns.TIME_COLUMNS` names them).
TIMES = {
    "runs": ("created_at", "started_at", "finished_at", "heartbeat_at"),
    "jobs": ("created_at", "started_at", "finished_at"),
    "steps": ("started_at", "finished_at"),
    "artifacts": ("created_at", "expires_at"),
    "events": ("at",),
    "deployments": ("commit_time", "created_at", "started_at", "finished_at"),
    "gates": ("requested_at", "decided_at"),
    "gate_decisions": ("at",),
    "rollbacks": ("started_at", "finished_at"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIMES.items():
        for column in columns:
            # whole seconds from strftime, the fraction from the text after them
            op.execute(
                f"UPDATE {table} SET {column} = CAST(strftime('%s', {column}) AS REAL) "
                f"+ CAST(substr({column}, 20) AS REAL) WHERE typeof({column}) = 'text'"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIMES.items():
        for column in columns:
            # SQLAlchemy's text form: microseconds, six digits
            op.execute(
                f"UPDATE {table} SET {column} = strftime('%Y-%m-%d %H:%M:%S', {column}, "
                f"'unixepoch') || printf('.%06d', ({column} - CAST({column} AS INTEGER)) "
                f"* 1000000) WHERE typeof({column}) IN ('real', 'integer')"
            )
