"""`RunSnapshots`: the followers of a run share one read of its record, on a real
SQLite store read from the thread pool as the server reads it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stageline.app.serverdata import ServerData, open_server
from stageline.errors import RunError
from stageline.server.snapshots import RunSnapshots
from stageline.store import NewJob, NewRun, RunDetail


class Counted(RunSnapshots):
    """Counts the reads that reach the store."""

    reads = 0

    def _read(self, run_id: int) -> RunDetail:
        self.reads += 1
        return super()._read(run_id)


def _run(server: ServerData) -> int:
    new = NewRun("/m/web.git", "acme/web", "CI", "ci.yml", "push", "refs/heads/main", "a", "me", {})
    jobs = [NewJob(k, k, k, []) for k in ("build", "test")]
    run_id, _ = server.store.runs.create_run(new, jobs, str(server.logs_dir))
    return run_id


def _rename(server: ServerData, run_id: int, actor: str) -> None:
    with server.store.transaction() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(f"UPDATE runs SET actor = '{actor}' WHERE id = {run_id}")


def test_concurrent_followers_share_one_read(tmp_path: Path) -> None:
    with open_server(tmp_path / "data") as server:
        run_id = _run(server)
        snapshots = Counted(server, max_age=3600)

        async def follow() -> list[RunDetail]:
            return await asyncio.gather(*(snapshots.detail(run_id) for _ in range(50)))

        details = asyncio.run(follow())
        assert snapshots.reads == 1
        assert {tuple(j.key for j in d.jobs) for d in details} == {("build", "test")}
        _rename(server, run_id, "someone else")
        # within max_age the snapshot taken is the answer, change or not
        again = asyncio.run(follow())
        assert snapshots.reads == 1 and again[0].run.actor == "me"
        # unless the caller asks for a newer one (a follower's job missing from it)
        fresh = asyncio.run(snapshots.detail(run_id, max_age=0))
        assert snapshots.reads == 2 and fresh.run.actor == "someone else"


def test_an_older_snapshot_is_read_again(tmp_path: Path) -> None:
    with open_server(tmp_path / "data") as server:
        run_id = _run(server)
        snapshots = Counted(server, max_age=0)
        assert asyncio.run(snapshots.detail(run_id)).run.actor == "me"
        _rename(server, run_id, "someone else")
        assert asyncio.run(snapshots.detail(run_id)).run.actor == "someone else"
        assert snapshots.reads == 2


def test_a_failed_read_reaches_every_waiter_and_is_not_kept(tmp_path: Path) -> None:
    with open_server(tmp_path / "data") as server:
        snapshots = Counted(server, max_age=3600)

        async def follow() -> list[RunDetail | BaseException]:
            return await asyncio.gather(
                *(snapshots.detail(404) for _ in range(3)), return_exceptions=True
            )

        failed = asyncio.run(follow())
        assert all(isinstance(f, RunError) and "no run 404" in str(f) for f in failed)
        with pytest.raises(RunError, match="no run 404"):
            asyncio.run(snapshots.detail(404))
        assert snapshots.reads == 2
