"""The local ports: the directory layouts every earlier version used, behind the ports."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from stageline.runner.actions.cache import version_of
from stageline.runner.places import (
    ArtifactDir,
    CacheDir,
    LocalDirs,
    LocalWorkspaces,
    LogDir,
    local_ports,
)
from stageline.runner.ports import ArtifactError, CheckoutError, JobPorts
from tests.runner.helpers import git, make_repo


def test_restore_keys_match_by_prefix_newest_first(tmp_path: Path) -> None:
    cache, ws = CacheDir(str(tmp_path / "cache")), tmp_path / "ws"
    (ws / "deps").mkdir(parents=True)
    version = version_of(["deps"])

    async def go() -> None:
        for key in ["linux-npm-aaa", "linux-npm-bbb", "linux-other"]:
            (ws / "deps/which").write_text(key)
            assert await cache.save(version, key, ["deps"], str(ws)) == 1
            time.sleep(0.01)
        assert await cache.save(version, "linux-npm-aaa", ["deps"], str(ws)) is None
        hit = await cache.lookup(version, "linux-npm-zzz", ["linux-npm-", "linux-"])
        assert hit is not None and hit.key == "linux-npm-bbb"
        hit = await cache.lookup(version, "linux-npm-aaa", ["linux-"])
        assert hit is not None and hit.key == "linux-npm-aaa"
        assert await cache.lookup(version_of(["other"]), "linux-npm-aaa", ["linux-"]) is None
        assert await cache.lookup(version, "mac-npm", ["mac-"]) is None
        target = tmp_path / "restored"
        target.mkdir()
        await cache.restore(hit, str(target))
        assert (target / "deps/which").read_text() == "linux-npm-aaa"

    asyncio.run(go())


def test_log_files_are_named_by_the_job_slug_and_report_their_size(tmp_path: Path) -> None:
    log = LogDir(str(tmp_path / "logs")).open("test (3.11)", 2)
    assert log.size is None
    log.write("one\n")
    assert Path(log.location).read_text() == "one\n"  # readable before the step ends
    log.close()
    assert log.size == 4
    log.write("late\n")  # a background process after its step: appended, not lost
    assert Path(log.location).read_text() == "one\nlate\n"
    relative = os.path.relpath(log.location, tmp_path / "logs")
    assert relative.startswith("test-3.11-") and relative.endswith(".2.log")
    assert os.sep not in relative  # one directory per run


def test_artifacts_are_stored_once_per_name_and_listed(tmp_path: Path) -> None:
    store = ArtifactDir(str(tmp_path / "artifacts"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.txt").write_text("a")

    async def go() -> None:
        assert await store.names() == []
        meta, where = await store.upload("dist", str(tmp_path / "src"), ["a.txt"], {}, False, False)
        assert (meta["files"], meta["size"]) == (1, 1)
        assert where == str(tmp_path / "artifacts" / "dist")
        with pytest.raises(ArtifactError, match="already exists"):
            await store.upload("dist", str(tmp_path / "src"), ["a.txt"], {}, False, False)
        assert await store.names() == ["dist"]
        await store.download("dist", str(tmp_path / "out"))
        assert (tmp_path / "out/a.txt").read_text() == "a"

    asyncio.run(go())


def test_workspaces_are_copies_of_the_commit_under_the_work_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"f.txt": "x\n"})
    sha = git(repo, "rev-parse", "HEAD")
    dirs = LocalDirs(str(repo), str(tmp_path / "work"), "a", "c", "l", ["acts"])
    provider = LocalWorkspaces(dirs, sha)
    assert provider.run_root == str(tmp_path / "work") and list(provider.action_dirs) == ["acts"]

    async def go() -> None:
        ws = await provider.create("build")
        assert ws.root == str(tmp_path / "work" / "build")
        assert Path(ws.workspace, "f.txt").read_text() == "x\n"
        assert os.path.isdir(ws.temp)
        assert await provider.resolve("main") == (sha, "refs/heads/main")
        with pytest.raises(CheckoutError, match="was not found"):
            await provider.resolve("no-such-branch")
        await provider.remove(ws)
        assert not os.path.exists(ws.root)

    asyncio.run(go())


def test_local_ports_bundle_one_run_s_directories(tmp_path: Path) -> None:
    dirs = LocalDirs("r", "w", str(tmp_path / "a"), str(tmp_path / "c"), str(tmp_path / "l"))
    ports = local_ports(dirs, "abc")
    assert isinstance(ports, JobPorts)
    assert (
        isinstance(ports.artifacts, ArtifactDir) and ports.artifacts.directory == dirs.artifacts_dir
    )
    assert isinstance(ports.cache, CacheDir) and ports.cache.directory == dirs.cache_dir
    assert isinstance(ports.logs, LogDir) and ports.logs.directory == dirs.log_dir
