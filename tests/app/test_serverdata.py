"""The server's data dir: modes, the secret key, one store per thread on SQLite."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from stageline.app.serverdata import default_data_dir, open_server
from stageline.store import Store
from tests.support.postgres import fresh_database


def test_the_data_dir_is_private_and_the_key_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    with open_server(data_dir) as server:
        key = server.secret_key
        assert server.store.where == str(data_dir / "stageline.db")
    assert len(key) == 32
    assert os.stat(data_dir).st_mode & 0o777 == 0o700
    assert os.stat(data_dir / "secret.key").st_mode & 0o777 == 0o600
    assert {p.name for p in data_dir.iterdir()} >= {"mirrors", "checkouts", "logs", "secret.key"}
    with open_server(data_dir) as again:
        assert again.secret_key == key


def test_the_default_data_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_DATA_DIR", str(tmp_path / "srv"))
    assert default_data_dir() == tmp_path / "srv"
    monkeypatch.delenv("STAGELINE_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == tmp_path / ".stageline-server"


def _stores_by_thread(data_dir: Path, url: str | None) -> tuple[Store, list[Store]]:
    with open_server(data_dir, url) as server:
        seen: list[Store] = []

        def work() -> None:
            first = server.store
            assert server.store is first  # the same one within a thread
            first.server.audit("t", "test", threading.current_thread().name)
            seen.append(first)
            server.release()

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(server.store.server.list_audit()) == 3
        return server.store, seen


def test_each_thread_has_its_own_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    main, seen = _stores_by_thread(tmp_path / "data", None)
    assert len({id(s) for s in [main, *seen]}) == 4


@pytest.mark.services
def test_threads_share_one_postgres_store(tmp_path: Path) -> None:
    with fresh_database() as url:
        main, seen = _stores_by_thread(tmp_path / "data", url)
    assert all(s is main for s in seen)
    assert not (tmp_path / "data" / "stageline.db").exists()


def test_a_thread_still_running_at_close_keeps_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    opened, closed = threading.Event(), threading.Event()
    wrote: list[int] = []

    with open_server(tmp_path / "data") as server:

        def outlives_the_server() -> None:
            server.store.server.audit("run", "test", "before")
            opened.set()
            closed.wait(30)
            server.store.server.audit("run", "test", "after")  # e.g. a waiting run's heartbeat
            wrote.append(len(server.store.server.list_audit()))
            server.release()

        thread = threading.Thread(target=outlives_the_server)
        thread.start()
        assert opened.wait(30)
    closed.set()
    thread.join(30)
    assert wrote == [2]
