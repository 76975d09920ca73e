"""Alembic environment: runs on the connection `store.db` hands over."""

from __future__ import annotations

from alembic import context

from stageline.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
)
context.run_migrations()
