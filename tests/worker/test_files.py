"""A worker's artifacts, cache and actions through a real served app (`worker.files`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stageline.app.serverdata import open_server
from stageline.engine.layout import RunLayout
from stageline.runner import actions
from stageline.runner.actions.cache import version_of
from stageline.runner.places import ArtifactDir, CacheDir
from stageline.runner.ports import ArtifactError
from stageline.server.app import ServerSettings, create_app
from stageline.worker.files import (
    ActionError,
    CacheError,
    RemoteArtifacts,
    RemoteCache,
    fetch_actions,
)
from stageline.worker.protocol import WORKER_HEADER
from tests.server.api.test_agent_files import register, running_attempt
from tests.server.conftest import Live, _users, serving
from tests.support.git import git
from tests.support.server import make_source


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    with open_server(data_dir) as server:
        tokens = _users(server)
    with serving(create_app(ServerSettings(data_dir=data_dir))) as url:
        yield Live(url, data_dir, tokens)


def _http(live: Live, role: str = "worker") -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {live.tokens[role]}", WORKER_HEADER: "w1"}
    return httpx.AsyncClient(base_url=live.url, headers=headers, timeout=30)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_an_artifact_uploaded_by_one_worker_is_downloaded_by_another(
    live: Live, tmp_path: Path
) -> None:
    run_id, attempt = running_attempt(live.data_dir)
    first, second = tmp_path / "worker1", tmp_path / "worker2"
    _write(first / "dist", {"index.html": "<h1>hi</h1>", "js/app.js": "go()"})
    os.symlink("index.html", first / "dist" / "home.html")
    files = ["index.html", "js/app.js", "home.html"]
    server_dir = RunLayout(live.data_dir, run_id).artifacts_dir

    async def go() -> None:
        async with _http(live) as http:
            store = RemoteArtifacts(http, run_id, attempt)
            meta, path = await store.upload(
                "site", str(first / "dist"), files, {"name": "site"}, False, False
            )
            assert meta == {"name": "site", "files": 3, "size": 11 + 4 + 11}
            assert path == os.path.join(server_dir, "site")
            with pytest.raises(ArtifactError, match="already exists"):
                await store.upload("site", str(first / "dist"), files, {}, False, False)
            assert await store.names() == ["site"]
            # the local executor's layout: a local job of the run sees it too
            assert await ArtifactDir(server_dir).names() == ["site"]

            await RemoteArtifacts(http, run_id, attempt).download("site", str(second / "got"))
            with pytest.raises(ArtifactError, match="is a job of run"):
                await RemoteArtifacts(http, run_id + 1, attempt).names()
            with pytest.raises(ArtifactError, match="no artifact 'nosuch'"):
                await store.download("nosuch", str(second / "none"))
        async with _http(live, "viewer") as http:
            with pytest.raises(ArtifactError, match="worker or admin role"):
                await RemoteArtifacts(http, run_id, attempt).names()

    asyncio.run(go())
    got = second / "got"
    assert (got / "index.html").read_text() == "<h1>hi</h1>"
    assert (got / "js" / "app.js").read_text() == "go()"
    assert (got / "home.html").read_text() == "<h1>hi</h1>" and not (got / "home.html").is_symlink()


def test_the_cache_is_saved_looked_up_by_restore_key_and_restored(
    live: Live, tmp_path: Path
) -> None:
    mirror = register(live, tmp_path)
    register(live, tmp_path, "other")
    run_id, attempt = running_attempt(live.data_dir, mirror)
    ws, other = tmp_path / "ws1", tmp_path / "ws2"
    outside = tmp_path / "home" / ".npm" / "index.json"
    _write(ws, {"deps/lib.js": "lib-1"})
    _write(outside.parent, {outside.name: "{}"})
    patterns = [str(ws / "deps"), str(outside.parent)]
    version = version_of(patterns)
    local = CacheDir(RunLayout(live.data_dir, run_id).cache_dir)

    async def go() -> None:
        async with _http(live) as http:
            cache = RemoteCache(http, "web", attempt)
            assert await cache.lookup(version, "linux-npm-aaa", ["linux-"]) is None
            assert await cache.save(version, "linux-npm-aaa", patterns, str(ws)) == 2
            assert await cache.save(version, "linux-npm-aaa", patterns, str(ws)) is None
            hit = await cache.lookup(version, "linux-npm-zzz", ["linux-npm-", "linux-"])
            assert hit is not None and hit.key == "linux-npm-aaa" and hit.version == version
            assert await cache.lookup(version_of(["x"]), "linux-npm-aaa", []) is None

            outside.unlink()
            await cache.restore(hit, str(other))
            # an entry a local job of the server saved is found by a remote one, and back
            found = await local.lookup(version, "linux-npm-aaa", [])
            assert found is not None and os.path.basename(found.location) == hit.location
            _write(ws, {"deps/lib.js": "lib-2"})
            assert await local.save(version, "linux-npm-bbb", patterns, str(ws)) == 2
            newest = await cache.lookup(version, "linux-npm-zzz", ["linux-npm-"])
            assert newest is not None and newest.key == "linux-npm-bbb"

            with pytest.raises(CacheError, match="not a job of repository 'other'"):
                await RemoteCache(http, "other", attempt).lookup(version, "k", [])
            with pytest.raises(CacheError, match="not running"):
                await RemoteCache(http, "web", "stale").save(version, "k2", patterns, str(ws))

    asyncio.run(go())
    assert (other / "deps" / "lib.js").read_text() == "lib-1"
    assert outside.read_text() == "{}"


def _action(root: Path, files: dict[str, str]) -> None:
    make_source(root, files)
    git(root, "tag", "v1")


def test_actions_come_from_the_servers_action_cache_into_the_vendored_layout(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge = tmp_path / "forge"
    inner = "runs: {using: composite, steps: [{run: echo inner, shell: bash}]}\n"
    outer = (
        "runs:\n  using: composite\n  steps:\n"
        "    - uses: acme/inner@v1\n    - uses: actions/checkout@v4\n"
    )
    _action(forge / "acme" / "inner", {"action.yml": inner})
    _action(forge / "acme" / "tools", {"greet/action.yml": outer, "README.md": "tools"})
    monkeypatch.setenv("STAGELINE_ACTIONS_URL", f"file://{forge}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "server-cache"))
    _, attempt = running_attempt(live.data_dir)
    dest = tmp_path / "worker-actions"
    uses = [
        "actions/checkout@v4",
        "./local",
        "docker://alpine",
        "acme/x@${{ matrix.v }}",
        "https://example.com/acme/y@v1",
        "acme/tools/greet@v1",
    ]

    async def go() -> None:
        async with _http(live) as http:
            await fetch_actions(http, attempt, uses, dest)
            with pytest.raises(ActionError, match="acme/nosuch@v1"):
                await fetch_actions(http, attempt, ["acme/nosuch@v1"], dest)
            with pytest.raises(ActionError, match="not running"):
                await fetch_actions(http, "stale", ["acme/other@v1"], dest)

    asyncio.run(go())
    assert (dest / "acme" / "tools@v1" / "greet" / "action.yml").read_text() == outer
    assert (dest / "acme" / "inner@v1" / "action.yml").read_text() == inner
    assert sorted(p.name for p in dest.iterdir()) == ["acme"]
    assert sorted(p.name for p in (dest / "acme").iterdir()) == ["inner@v1", "tools@v1"]
    # offline now: the runner finds the action where the worker put it, fetching nothing
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "worker-cache"))
    found = actions.resolve("acme/tools/greet@v1", str(tmp_path), [str(dest)])
    assert isinstance(found, actions.Resolved), found
    assert found.directory == str(dest / "acme" / "tools@v1" / "greet")


@pytest.mark.slow
def test_a_job_runs_with_the_remote_ports(live: Live, tmp_path: Path) -> None:
    """The runner, unchanged, on a worker's ports: checkout from the clone cache, an
    artifact and a cache entry that land in the server's data dir."""
    from stageline.runner.job import run_job
    from stageline.runner.places import LogDir
    from stageline.runner.ports import JobPorts
    from stageline.worker.workspaces import GitWorkspaces
    from tests.runner.helpers import RecordingSink, job, request, step

    mirror = register(live, tmp_path)
    source = tmp_path / "web"
    run_id, attempt = running_attempt(live.data_dir, mirror)
    planned = job(
        step(0, None, uses="actions/checkout@v4"),
        step(1, None, uses="actions/cache@v4", with_={"path": "deps", "key": "deps-1"}),
        step(2, "mkdir -p out deps && cp a.txt out/ && echo cached > deps/d.txt"),
        step(3, None, uses="actions/upload-artifact@v4", with_={"name": "out", "path": "out"}),
    )
    req = request(tmp_path / "job", source, planned)
    sink = RecordingSink()

    async def go() -> None:
        async with _http(live) as http:
            token, cache, run_root = live.tokens["worker"], tmp_path / "cache", tmp_path / "run"
            ports = JobPorts(
                workspaces=GitWorkspaces(live.url, token, "web", req.sha, cache, run_root, []),
                artifacts=RemoteArtifacts(http, run_id, attempt),
                cache=RemoteCache(http, "web", attempt),
                logs=LogDir(str(tmp_path / "logs")),
            )
            result = await run_job(req, sink, asyncio.Event(), ports, kill_grace=1.0)
            assert result.conclusion.value == "success", sink.calls

    asyncio.run(go())
    layout = RunLayout(live.data_dir, run_id)
    stored = Path(layout.artifacts_dir) / "out" / "files" / "a.txt"
    assert stored.read_text() == "a\n"
    [uploaded] = sink.events("artifact.uploaded")
    assert uploaded["path"] == str(stored.parent.parent)
    [entry] = [p for p in Path(layout.cache_dir).iterdir()]
    assert (entry / "files" / "ws" / "deps" / "d.txt").read_text() == "cached\n"
