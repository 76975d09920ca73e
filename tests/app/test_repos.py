"""Registered repositories: mirrors, fetching pushed commits, checkouts to plan from."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app import repos
from stageline.app.serverdata import ServerData, open_server
from stageline.errors import ConfigError, RunError
from tests.support.git import git
from tests.support.server import PLAIN_WORKFLOW, commit, make_source


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerData]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with open_server(tmp_path / "data") as opened:
        yield opened


def test_a_local_path_or_file_url_is_mirrored_and_recorded(
    server: ServerData, tmp_path: Path
) -> None:
    sha = make_source(tmp_path / "web", {"a.txt": "a"})
    web = repos.add_repo(server, "web", str(tmp_path / "web"), "hook-secret", by="root")
    assert web.url == str(tmp_path / "web")
    assert Path(web.mirror_path) == server.mirrors_dir / "web.git"
    assert git(Path(web.mirror_path), "rev-parse", "--is-bare-repository") == "true"
    assert git(Path(web.mirror_path), "rev-parse", "main") == sha
    assert server.store.server.get_repo("web") == web and web.webhook_secret == "hook-secret"
    other = repos.add_repo(server, "other", f"file://{tmp_path / 'web'}")
    assert other.url.startswith("file://")
    [entry, _] = [a for a in server.store.server.list_audit() if a.action == "repo.add"][::-1]
    assert (entry.actor, entry.target) == ("root", "web")


def test_bad_names_urls_and_duplicates_are_refused_without_leftovers(
    server: ServerData, tmp_path: Path
) -> None:
    make_source(tmp_path / "web", {"a.txt": "a"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="invalid repository name"):
        repos.add_repo(server, "a/b", str(tmp_path / "web"))
    with pytest.raises(ConfigError, match="unsupported repository URL") as caught:
        repos.add_repo(server, "web", "git@forge.test:acme/web.git")
    assert caught.value.hint == "use https://..., file://... or a local path"
    with pytest.raises(ConfigError, match="unsupported"):
        repos.add_repo(server, "web", "ssh://forge.test/acme/web")
    with pytest.raises(ConfigError, match="no repository at"):
        repos.add_repo(server, "web", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="invalid repository path"):
        repos.add_repo(server, "web", "0" * 1000)
    with pytest.raises(ConfigError, match="invalid repository path"):
        repos.add_repo(server, "web", "a\x00b")
    with pytest.raises(RunError, match="git clone failed") as failed:
        repos.add_repo(server, "web", str(tmp_path / "empty"))
    assert "\n" not in failed.value.message
    assert not (server.mirrors_dir / "web.git").exists()
    assert server.store.server.list_repos() == []
    repos.add_repo(server, "web", str(tmp_path / "web"))
    with pytest.raises(ConfigError, match="already registered"):
        repos.add_repo(server, "web", str(tmp_path / "web"))


def test_fetch_brings_pushed_commits_and_checkout_is_that_commit(
    server: ServerData, tmp_path: Path
) -> None:
    source = tmp_path / "web"
    first = make_source(source, {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    web = repos.add_repo(server, "web", str(source))
    second = commit(source, {"b.txt": "b"})
    assert repos.fetch(server, web, first) == first  # present: no fetch needed
    with pytest.raises(RunError, match="no commit"):
        repos.resolve(web, second)
    assert repos.fetch(server, web, second) == second
    assert repos.fetch(server, web, "main") == second
    with pytest.raises(RunError, match="no commit 'nope'"):
        repos.fetch(server, web, "nope")

    old = repos.checkout(server, web, first, "refs/heads/main")
    assert old.name == "web"
    assert git(old, "rev-parse", "HEAD") == first
    assert git(old, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert not (old / "b.txt").exists()
    assert git(old, "remote", "get-url", "origin") == str(source)
    assert repos.checkout(server, web, first, "refs/heads/main") == old  # made once
    detached = repos.checkout(server, web, second)
    assert (detached / "b.txt").read_text() == "b"
    assert git(detached, "rev-parse", "HEAD") == second
    assert old != detached


def test_old_checkouts_no_unfinished_run_uses_are_pruned(
    server: ServerData, tmp_path: Path
) -> None:
    from stageline.store.records import NewJob, NewRun

    source = tmp_path / "web"
    first = make_source(source, {".github/workflows/ci.yml": PLAIN_WORKFLOW})
    web = repos.add_repo(server, "web", str(source))
    second = commit(source, {"b.txt": "b"})
    third = commit(source, {"c.txt": "c"})
    repos.fetch(server, web, third)
    done, waiting, fresh = (
        repos.checkout(server, web, sha, "refs/heads/main") for sha in (first, second, third)
    )
    ref = "refs/heads/main"
    new = NewRun(web.mirror_path, "local/web", "d", "d.yml", "push", ref, second, "x", {})
    run_id, _ = server.store.runs.create_run(new, [NewJob("deploy", "deploy", "deploy", [])], "l")
    recorder = server.store.runs.recorder(run_id)
    recorder.run(status="waiting")  # at a gate
    recorder.flush()
    for tree in (done, waiting):  # two hours old
        os.utime(tree.parent, (time.time() - 7200, time.time() - 7200))

    removed = repos.prune_checkouts(server, web)

    assert removed == [done.parent]
    assert not done.exists() and waiting.is_dir() and fresh.is_dir()
    assert repos.checkout(server, web, first, "refs/heads/main") == done  # made again
    assert git(done, "rev-parse", "HEAD") == first
