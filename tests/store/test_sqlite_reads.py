"""SQLite reads take no write lock: a server request reading the record (authenticating,
listing runs, reading one) is answered while a run holds the write lock, instead of
queueing behind it. The reader's busy timeout is 0 here, so one that asked for the lock
fails at once with "database is locked" instead of waiting."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.errors import StoreError
from stageline.store import NewJob, NewRun
from stageline.store.db import open_sqlite
from stageline.store.sqlite import DB_NAME, SQLiteStore


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SQLiteStore]:
    with open_sqlite(tmp_path) as store:
        store.raw.execute("PRAGMA busy_timeout = 0")
        yield store


@pytest.fixture
def writer(tmp_path: Path, reader: SQLiteStore) -> Iterator[sqlite3.Connection]:
    """Another connection to the same file, holding the write lock for the test."""
    raw = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    yield raw
    if raw.in_transaction:
        raw.rollback()
    raw.close()


def _run(store: SQLiteStore) -> int:
    new = NewRun("/m/web.git", "acme/web", "CI", "ci.yml", "push", "refs/heads/main", "a", "me", {})
    run_id, _ = store.runs.create_run(new, [NewJob("build", "build", "build", [])], "/logs")
    return run_id


def test_runs_are_read_while_another_connection_writes(
    reader: SQLiteStore, writer: sqlite3.Connection
) -> None:
    run_id = _run(reader)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE runs SET actor = 'someone else' WHERE id = ?", (run_id,))
    assert [r.id for r in reader.runs.list_runs(limit=20)] == [run_id]
    detail = reader.runs.get_run(run_id)
    assert detail.run.actor == "me"  # the snapshot before the uncommitted write
    assert [j.key for j in detail.jobs] == ["build"]
    assert reader.runs.find_run(run_id) is not None
    assert reader.runs.run_state(run_id)[0] == "queued"
    assert reader.runs.run_events(run_id) == reader.runs.run_events(run_id)
    writer.execute("COMMIT")
    assert reader.runs.get_run(run_id).run.actor == "someone else"  # a new snapshot


def test_a_token_is_checked_while_another_connection_writes(
    reader: SQLiteStore, writer: sqlite3.Connection
) -> None:
    user = reader.server.add_user("alice", "viewer", ["b@x.org", "a@x.org"], None)
    token = reader.server.add_token(user.id, "ci", "f" * 64, None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE users SET role = 'admin'")
    found = reader.server.token_by_hash("f" * 64)
    assert found == (token, user)
    assert found[1].emails == ("a@x.org", "b@x.org")
    assert reader.server.get_user("alice") == user
    assert reader.server.list_repos() == []


def test_writes_still_wait_for_the_write_lock(
    reader: SQLiteStore, writer: sqlite3.Connection
) -> None:
    writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match=r"cannot write the record .*locked"):
        _run(reader)
    with pytest.raises(StoreError, match=r"cannot write the record .*locked"):
        reader.server.add_user("bob", "viewer", [], None)
    writer.execute("ROLLBACK")
    assert reader.server.add_user("bob", "viewer", [], None).name == "bob"
