"""Fixtures shared by the deploy tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store of its own, under tmp_path/home."""
    with open_store(tmp_path / "home") as opened:
        yield opened
