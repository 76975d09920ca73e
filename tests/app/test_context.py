"""Opening a repository's record: found from any directory in it, created only to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.app import context
from stageline.errors import ConfigError


def test_reading_needs_a_record_and_running_creates_it(repo: Path) -> None:
    with pytest.raises(context.NoRecordError, match="no runs recorded yet"), context.open(repo):
        pass
    assert not (repo / ".stageline").exists()
    with context.open(repo, create=True) as ctx:
        assert ctx.root == repo
    assert (repo / ".stageline" / "stageline.db").is_file()


def test_a_subdirectory_opens_its_repository(repo: Path) -> None:
    (repo / "src" / "deep").mkdir(parents=True)
    with context.open(repo / "src" / "deep", create=True) as ctx:
        assert ctx.root == repo
    assert not (repo / "src" / "deep" / ".stageline").exists()


def test_the_config_loads_on_first_use(repo: Path) -> None:
    (repo / ".stageline.yml").write_text("environments:\n  staging:\n    url: http://x\n")
    with context.open(repo, create=True) as ctx:
        assert ctx.config.environment("staging").url == "http://x"
        assert ctx.config is ctx.config


def test_only_the_local_store_opens_for_now(repo: Path) -> None:
    url = "postgresql+psycopg://localhost/x"
    with pytest.raises(ConfigError, match="only the local SQLite store"), context.open(repo, url):
        pass
