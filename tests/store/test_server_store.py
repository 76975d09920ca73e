"""The `ServerStore` contract (ADR 0011), on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.errors import StoreError
from stageline.store import NewJob, NewRun, Store, open_store


def _repo(store: Store, name: str = "web", url: str = "https://example.test/acme/web.git") -> int:
    return store.server.add_repo(name, url, f"/data/mirrors/{name}.git", "s3cret").id


def test_repositories_are_added_found_and_listed(store: Store) -> None:
    row = store.server.add_repo("web", "https://forge.test/Acme/Web.git", "/m/web.git", "s3cret")
    store.server.add_repo("api", "/srv/git/api", "/m/api.git", None)
    assert (row.name, row.mirror_path, row.webhook_secret) == ("web", "/m/web.git", "s3cret")
    assert "s3cret" not in repr(row)
    assert row.created_at.tzinfo is not None
    assert store.server.get_repo("web") == row
    assert store.server.get_repo_by_id(row.id) == row
    assert store.server.get_repo("nope") is None
    assert [r.name for r in store.server.list_repos()] == ["api", "web"]
    assert store.server.repo_for_url("https://forge.test/acme/web/") == row
    assert store.server.repo_for_url("https://forge.test/acme/web") == row
    assert store.server.repo_for_url("https://forge.test/acme/other") is None
    with pytest.raises(StoreError, match="'web' is already registered"):
        store.server.add_repo("web", "https://x.test/y", "/m/y.git", None)


def test_users_have_a_role_and_emails_that_map_commit_authors(store: Store) -> None:
    alice = store.server.add_user("alice", "admin", ["Alice@Example.org", "a@x.org"], "hash")
    bob = store.server.add_user("bob", "reviewer", [], None)
    assert alice.emails == ("a@x.org", "alice@example.org")
    assert "hash" not in repr(alice)
    assert store.server.get_user("alice") == alice
    assert store.server.get_user_by_id(bob.id) == bob
    assert store.server.user_for_email("ALICE@example.org") == alice
    assert store.server.user_for_email("nobody@x.org") is None
    assert [u.name for u in store.server.list_users()] == ["alice", "bob"]
    with pytest.raises(StoreError, match="'alice' already exists"):
        store.server.add_user("alice", "viewer", [], None)
    with pytest.raises(StoreError, match=r"a@x\.org already belongs"):
        store.server.add_user("carol", "viewer", ["a@x.org"], None)
    assert store.server.get_user("carol") is None  # nothing half-written


def test_tokens_are_found_by_hash_until_revoked_or_expired(store: Store) -> None:
    user = store.server.add_user("alice", "developer", [], None)
    later = datetime.now(UTC) + timedelta(days=1)
    live = store.server.add_token(user.id, "ci", "a" * 64, later)
    expired = store.server.add_token(user.id, "old", "b" * 64, datetime.now(UTC) - timedelta(1))
    forever = store.server.add_token(user.id, "bot", "c" * 64, None)
    assert "a" * 64 not in repr(live)
    found = store.server.token_by_hash("a" * 64)
    assert found is not None and found[0].id == live.id and found[1] == user
    assert abs((found[0].expires_at or later) - later) < timedelta(seconds=1)
    assert store.server.token_by_hash("b" * 64) is None
    assert store.server.token_by_hash("d" * 64) is None
    assert store.server.revoke_token(forever.id) is True
    assert store.server.revoke_token(forever.id) is False
    assert store.server.token_by_hash("c" * 64) is None
    listed = store.server.list_tokens(user.id)
    assert [t.id for t in listed] == [live.id, expired.id, forever.id]
    assert listed[2].revoked_at is not None and listed[0].revoked_at is None
    assert store.server.get_token(live.id) == listed[0]


def test_triggers_are_recorded_once_per_delivery_and_finished(store: Store) -> None:
    repo_id = _repo(store)
    payload = {"ref": "refs/heads/main", "commits": [{"id": "abc"}]}
    first = store.server.record_trigger(
        repo_id, "github", "push", "d-1", "refs/heads/main", "a" * 40, "alice", payload
    )
    assert first is not None
    again = store.server.record_trigger(
        repo_id, "github", "push", "d-1", "refs/heads/main", "a" * 40, "alice", payload
    )
    assert again is None
    other_source = store.server.record_trigger(repo_id, "gitea", "push", "d-1", "", "", "", {})
    no_delivery = [
        store.server.record_trigger(None, "schedule", "schedule", None, "", "", "", {})
        for _ in range(2)
    ]
    assert other_source is not None and None not in no_delivery
    row = store.server.get_trigger(first)
    assert row is not None and row.payload == payload and row.outcome is None
    assert row.run_ids == [] and row.created_at.tzinfo is not None
    store.server.finish_trigger(first, "started", None, [4, 5])
    store.server.finish_trigger(other_source, "nothing", "no workflow matches branch x", [])
    done = store.server.get_trigger(first)
    assert done is not None and (done.outcome, done.run_ids) == ("started", [4, 5])
    newest = store.server.list_triggers()
    assert [t.id for t in newest] == sorted((first, other_source, *no_delivery), reverse=True)  # type: ignore[type-var]
    assert [t.id for t in store.server.list_triggers(repo_id=repo_id)] == [other_source, first]
    assert [t.id for t in store.server.list_triggers(limit=1, before=other_source)] == [first]
    with pytest.raises(ValueError, match="unknown trigger outcome"):
        store.server.finish_trigger(first, "maybe", None, [])


def _concurrently(n: int, act: Callable[[int], object]) -> list[object]:
    results: list[object] = [None] * n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = act(i)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_the_replay_guard_holds_under_concurrent_deliveries(
    store: Store, tmp_path: Path, store_url: str | None
) -> None:
    repo_id = _repo(store)
    stores = [open_store(tmp_path / "home", store_url) for _ in range(6)]  # one per writer
    try:
        for round_ in range(5):

            def deliver(i: int, delivery: str = f"delivery-{round_}") -> int | None:
                return stores[i].server.record_trigger(
                    repo_id, "github", "push", delivery, "", "", "", {"i": i}
                )

            results = _concurrently(len(stores), deliver)
            assert sum(r is not None for r in results) == 1, results
    finally:
        for opened in stores:
            opened.close()
    assert len(store.server.list_triggers(limit=100)) == 5


def _run(store: Store, repo_path: str) -> int:
    new = NewRun(repo_path, "acme/web", "CI", "ci.yml", "push", "refs/heads/main", "a", "me", {})
    run_id, _ = store.runs.create_run(new, [NewJob("a", "a", "a", [])], "/logs")
    return run_id


def test_runs_are_linked_to_their_repository_trigger_and_author(store: Store) -> None:
    repo_id = _repo(store)
    trigger = store.server.record_trigger(repo_id, "github", "push", "x", "", "", "", {})
    first, second = _run(store, "/data/mirrors/web.git"), _run(store, "/data/mirrors/web.git")
    store.server.link_run(first, repo_id, trigger, "alice", "Alice@Example.org")
    store.server.link_run(second, repo_id, None, "bob", "")
    link = store.server.run_link(first)
    assert link is not None
    assert (link.repo_id, link.trigger_id, link.started_by) == (repo_id, trigger, "alice")
    assert link.author_email == "alice@example.org"
    assert store.server.run_link(second + 100) is None
    assert store.server.runs_of_repo(repo_id) == [second, first]
    with pytest.raises(StoreError, match="already linked"):
        store.server.link_run(first, repo_id, None, "x", "")


def test_schedules_remember_their_last_firing(store: Store) -> None:
    repo_id = _repo(store)
    assert store.server.schedule_last(repo_id, "ci.yml", "0 * * * *") is None
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    store.server.schedule_mark(repo_id, "ci.yml", "0 * * * *", at)
    store.server.schedule_mark(repo_id, "ci.yml", "0 * * * *", at + timedelta(hours=1))
    store.server.schedule_mark(repo_id, "ci.yml", "*/5 * * * *", at)
    assert store.server.schedule_last(repo_id, "ci.yml", "0 * * * *") == at + timedelta(hours=1)
    assert store.server.schedule_last(repo_id, "ci.yml", "*/5 * * * *") == at


def test_the_audit_log_pages_back_from_the_newest(store: Store) -> None:
    before = time.time()
    for n in range(5):
        store.server.audit("alice", "run.cancel", f"run {n}", {"n": n} if n % 2 else None)
    rows = store.server.list_audit()
    assert [r.target for r in rows] == [f"run {n}" for n in (4, 3, 2, 1, 0)]
    assert rows[1].detail == {"n": 3} and rows[0].detail is None
    assert rows[0].at.timestamp() >= before - 1
    page = store.server.list_audit(limit=2, before=rows[1].id)
    assert [r.target for r in page] == ["run 2", "run 1"]
