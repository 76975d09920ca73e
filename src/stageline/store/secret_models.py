"""The secrets store's table (issue 13, migration 0005).

Values are Fernet tokens (`cryptography`): the key never enters the record, so a copy
of the database alone reveals no secret.

* `scope` — the repository the secret belongs to (its `repo_path` locally, the
  registered repository's name on the server); `environment` is '' for a repository
  secret, else the environment whose gate must pass before the job gets it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stageline.store.models import Base, UTCDateTime


class Secret(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("scope", "environment", "name", name="uq_secrets"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(1024))
    environment: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
