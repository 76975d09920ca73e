"""`GitWorkspaces`: a worker's workspaces fetched from a real served app over git HTTP."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.app.serverdata import open_server
from stageline.runner.ports import CheckoutError
from stageline.runner.workspace import WorkspaceError
from stageline.server.app import ServerSettings, create_app
from stageline.worker.workspaces import GitWorkspaces
from tests.server.conftest import Live, _users, serving
from tests.support.git import git
from tests.support.server import commit, make_source


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    with open_server(data_dir) as server:
        tokens = _users(server)
    with serving(create_app(ServerSettings(data_dir=data_dir))) as url:
        yield Live(url, data_dir, tokens)


def _loose_objects(bare: Path) -> int:
    """Objects fetched so far: small fetches stay loose (fetch.unpackLimit), so each one
    the clone received is counted once."""
    stats = dict(line.split(": ") for line in git(bare, "count-objects", "-v").splitlines())
    assert stats["in-pack"] == "0"
    return int(stats["count"])


def test_jobs_get_fresh_workspaces_and_a_second_fetch_takes_only_what_is_new(
    live: Live, tmp_path: Path
) -> None:
    source = tmp_path / "web"
    first = make_source(source, {"README.md": "one\n", "src/app.py": "print(1)\n"})
    with live.client("admin") as admin:
        assert admin.post("/api/v1/repos", json={"name": "web", "url": str(source)}).is_success
    mirror = live.data_dir / "mirrors" / "web.git"
    cache, run_root = tmp_path / "cache", tmp_path / "run"
    token = live.tokens["worker"]

    def provider(sha: str, token: str = token) -> GitWorkspaces:
        return GitWorkspaces(live.url, token, "web", sha, cache, run_root, ["/actions"])

    async def go() -> None:
        one = provider(first)
        assert one.action_dirs == ["/actions"] and one.run_root == str(run_root)
        ws = await one.create("build")
        assert (Path(ws.workspace) / "src" / "app.py").read_text() == "print(1)\n"
        bare = cache / "repos" / "web.git"
        assert one.clone == bare
        before = _loose_objects(bare)
        assert before == 5  # commit, 2 trees, 2 blobs

        (Path(ws.workspace) / "README.md").write_text("changed by the job\n")
        await one.remove(ws)
        assert not Path(ws.root).exists()

        second = commit(source, {"README.md": "two\n"})
        git(mirror, "remote", "update")
        ws2 = await provider(second).create("build")
        assert (Path(ws2.workspace) / "README.md").read_text() == "two\n"
        assert _loose_objects(bare) - before == 3  # the new commit, its tree, one blob

        # a commit the clone has: nothing is fetched (a refused token would fail)
        again = await provider(first, "slt_revoked").create("test")
        assert (Path(again.workspace) / "README.md").read_text() == "one\n"
        with pytest.raises(WorkspaceError, match="cannot fetch web from the server"):
            await provider("f" * 40, "slt_revoked").create("x")
        with pytest.raises(WorkspaceError, match=f"commit {'f' * 40} is not in web"):
            await provider("f" * 40).create("x")

    asyncio.run(go())


def test_resolve_and_checkout_work_as_for_a_local_repository(live: Live, tmp_path: Path) -> None:
    source = tmp_path / "web"
    first = make_source(source, {"a.txt": "1\n"})
    git(source, "tag", "v1")
    with live.client("admin") as admin:
        assert admin.post("/api/v1/repos", json={"name": "web", "url": str(source)}).is_success
    mirror = live.data_dir / "mirrors" / "web.git"
    second = commit(source, {"a.txt": "2\n"})
    git(mirror, "remote", "update")  # after the job's provider was made: resolve fetches
    provider = GitWorkspaces(
        live.url, live.tokens["worker"], "web", first, tmp_path / "c", tmp_path / "r", []
    )
    target = tmp_path / "checkout"

    async def go() -> None:
        await provider.create("build")
        assert await provider.resolve("main") == (second, "refs/heads/main")
        assert await provider.resolve("v1") == (first, "refs/tags/v1")
        assert await provider.resolve(first) == (first, "")
        with pytest.raises(CheckoutError, match="'nosuch' was not found"):
            await provider.resolve("nosuch")

        await provider.checkout(str(target), second, "refs/heads/main", 1, False, True)
        assert (target / "a.txt").read_text() == "2\n"
        assert git(target, "rev-parse", "--abbrev-ref", "HEAD") == "main"
        assert git(target, "rev-list", "--count", "HEAD") == "1"  # depth 1
        (target / "junk").write_text("x")
        await provider.checkout(str(target), first, "refs/tags/v1", 0, True, True)
        assert (target / "a.txt").read_text() == "1\n" and not (target / "junk").exists()
        assert git(target, "tag") == "v1"
        assert "Bearer" not in (target / ".git" / "config").read_text()

    asyncio.run(go())
    config = (tmp_path / "c" / "repos" / "web.git" / "config").read_text()
    assert "Bearer" not in config and live.tokens["worker"] not in config
    shown = subprocess.run(["git", "-C", str(target), "remote", "-v"], capture_output=True)
    assert live.url not in shown.stdout.decode()
