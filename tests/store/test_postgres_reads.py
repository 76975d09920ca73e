"""PostgreSQL reads: independent statements run in autocommit (no BEGIN or COMMIT
round trip, no transaction left open between them), `get_run` in one snapshot, and
at most `READERS` reads hold a connection at once, leaving the others for writes."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import Connection, text

from stageline.store import NewJob, NewRun
from stageline.store.postgres import READERS, PostgresStore, open_postgres

pytestmark = pytest.mark.services


def _status(conn: Connection) -> pq.TransactionStatus:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return pq.TransactionStatus(raw.info.transaction_status)


def test_a_read_holds_no_transaction_between_its_statements(tmp_path: Path, pg_url: str) -> None:
    store: PostgresStore = open_postgres(tmp_path, pg_url)
    try:
        with store.reading() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            assert _status(conn) == pq.TransactionStatus.IDLE  # no BEGIN was sent
        with store.transaction() as conn:
            conn.execute(text("SELECT 1"))
            assert _status(conn) == pq.TransactionStatus.INTRANS  # writes still are one
    finally:
        store.close()


def test_each_read_sees_what_was_committed_before_it(tmp_path: Path, pg_url: str) -> None:
    store = open_postgres(tmp_path, pg_url)
    try:
        ref = "refs/heads/main"
        new = NewRun("/m/web.git", "acme/web", "CI", "ci.yml", "push", ref, "a", "me", {})
        run_id, _ = store.runs.create_run(new, [NewJob("b", "b", "b", [])], "/logs")
        user = store.server.add_user("alice", "viewer", ["a@x.org"], None)
        token = store.server.add_token(user.id, "ci", "e" * 64, None)
        assert [r.id for r in store.runs.list_runs()] == [run_id]
        assert store.runs.run_state(run_id) == ("queued", None)
        assert store.server.token_by_hash("e" * 64) == (token, user)
        store.server.revoke_token(token.id)
        assert store.server.token_by_hash("e" * 64) is None
        assert [j.key for j in store.runs.get_run(run_id).jobs] == ["b"]
    finally:
        store.close()


def test_get_run_reads_one_snapshot(tmp_path: Path, pg_url: str) -> None:
    store = open_postgres(tmp_path, pg_url)
    try:
        with store.snapshot() as conn:
            conn.execute(text("SELECT 1"))
            assert _status(conn) == pq.TransactionStatus.INTRANS
    finally:
        store.close()


def test_busy_readers_leave_connections_for_writes(tmp_path: Path, pg_url: str) -> None:
    """More readers than `READERS` at once: the others wait for a reader's turn, not
    for a connection, and a write finds one while they all read."""
    store = open_postgres(tmp_path, pg_url)
    holding = threading.Barrier(READERS + 1)
    release = threading.Event()
    done: list[int] = []

    def read() -> None:
        with store.reading() as conn:
            conn.execute(text("SELECT 1"))
            with contextlib.suppress(threading.BrokenBarrierError):
                holding.wait(timeout=60)
            release.wait(timeout=60)
            done.append(1)

    threads = [threading.Thread(target=read) for _ in range(READERS + 5)]
    try:
        for thread in threads:
            thread.start()
        holding.wait(timeout=60)  # READERS of them hold a connection
        holding.abort()  # the rest, in their turn, do not wait for it
        assert store.engine.pool.checkedout() == READERS  # type: ignore[attr-defined]
        repo = store.server.add_repo("web", "https://x.test/web", "/m/web.git", None)
        assert repo.name == "web"  # written while every reader's turn is taken
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
        store.close()
    assert len(done) == READERS + 5
