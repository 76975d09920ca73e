"""Opening a repository's record: found from any directory in it, created only to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.app import context
from stageline.errors import ConfigError, StoreError, WorkflowError
from tests.support.postgres import fresh_database


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


@pytest.mark.services
def test_a_database_url_opens_that_store_and_writes_no_local_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with fresh_database() as url:
        # No record exists locally, yet reading works: the shared store is the record.
        with context.open(repo, url) as ctx:
            assert ctx.store.runs.list_runs(repo_path=str(repo)) == []
            assert "postgresql" in ctx.store.where
        monkeypatch.setenv("STAGELINE_DATABASE_URL", url)
        with context.open(repo) as ctx:
            assert "postgresql" in ctx.store.where
    assert not (repo / ".stageline" / "stageline.db").exists()


def test_an_unreachable_database_is_a_one_line_store_error(repo: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    with pytest.raises(StoreError, match="cannot open the record"), context.open(repo, url):
        pass


def test_the_config_is_read_as_committed(tmp_path: Path) -> None:
    from tests.app.conftest import make_repo
    from tests.support.git import git

    root = make_repo(tmp_path / "r", {"README": "x\n"})
    bare = tmp_path / "mirror.git"
    first = git(root, "rev-parse", "HEAD")
    (root / ".stageline.yml").write_text("environments: {production: {url: http://x}}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "config")
    git(tmp_path, "clone", "-q", "--mirror", str(root), str(bare))
    assert context.config_at(bare, "HEAD").environments["production"].url == "http://x"
    assert context.config_at(bare, first).environments == {}
    with pytest.raises(ConfigError, match="no commit 0000000 in"):
        context.config_at(bare, "0000000")
    (root / ".stageline.yml").write_text("environments: [oops]\n")
    git(root, "commit", "-qam", "broken")
    with pytest.raises(WorkflowError, match=r":\.stageline\.yml:1:"):
        context.config_at(root, "HEAD")
