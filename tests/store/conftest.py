"""The `store` fixture: every contract test runs on SQLite and on PostgreSQL.

PostgreSQL tests carry the `services` marker and get a database of their own at
127.0.0.1:5432 (user postgres), created before the test and dropped after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.store import Store, open_store
from tests.support.postgres import fresh_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database's URL, dropped after the test."""
    with fresh_database() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)],
)
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the file under the store's home), else a fresh database's URL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(
    tmp_path: Path, store_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with open_store(tmp_path / "home", store_url) as opened:
        yield opened
