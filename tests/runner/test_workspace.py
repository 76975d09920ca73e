import asyncio
import os
import stat
from pathlib import Path

import pytest

from stageline.runner.workspace import (
    WorkspaceError,
    create,
    export_commit,
    fast_work_root,
    job_slug,
    remove_small_tree,
    remove_tree,
    snapshot,
)
from tests.runner.helpers import commit_files, git, make_repo


def test_export_holds_the_commit_not_the_working_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "committed\n", "bin/tool.sh+x": "#!/bin/sh\n"})
    sha = git(repo, "rev-parse", "HEAD")
    (repo / "a.txt").write_text("dirty\n")
    (repo / "untracked.txt").write_text("x")
    target = tmp_path / "snap"
    export_commit(str(repo), sha, str(target))
    assert (target / "a.txt").read_text() == "committed\n"
    assert not (target / "untracked.txt").exists()
    assert not (target / ".git").exists()
    assert os.stat(target / "bin/tool.sh").st_mode & stat.S_IXUSR
    assert git(repo, "status", "--porcelain") == "M a.txt\n?? untracked.txt".strip()


def test_export_of_an_older_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "v1\n"})
    first = git(repo, "rev-parse", "HEAD")
    commit_files(repo, {"a.txt": "v2\n"}, "second")
    export_commit(str(repo), first, str(tmp_path / "snap"))
    assert (tmp_path / "snap/a.txt").read_text() == "v1\n"


def test_unknown_commit_is_a_workspace_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    with pytest.raises(WorkspaceError):
        export_commit(str(repo), "0" * 40, str(tmp_path / "snap"))


def test_snapshot_is_made_once_for_concurrent_jobs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    sha = git(repo, "rev-parse", "HEAD")

    async def both() -> list[str]:
        return await asyncio.gather(
            *(snapshot(str(repo), sha, str(tmp_path / "w")) for _ in range(5))
        )

    paths = asyncio.run(both())
    assert len(set(paths)) == 1
    assert os.listdir(tmp_path / "w/.snapshots") == [sha]


def test_job_copies_are_independent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"a.txt": "original\n"})
    sha = git(repo, "rev-parse", "HEAD")
    snap = asyncio.run(snapshot(str(repo), sha, str(tmp_path / "w")))
    one = create(snap, str(tmp_path / "w"), "one")
    two = create(snap, str(tmp_path / "w"), "two")
    with open(os.path.join(one.workspace, "a.txt"), "r+") as f:  # rewrite in place
        f.write("CHANGED!\n")
    assert Path(two.workspace, "a.txt").read_text() == "original\n"
    assert Path(snap, "a.txt").read_text() == "original\n"
    assert os.path.isdir(one.temp)


def test_job_slug_is_safe_and_unique() -> None:
    assert job_slug("build") == "build"
    a, b = job_slug("test (3.11, ubuntu)"), job_slug("test (3.11/ubuntu)")
    assert a != b and "/" not in a + b and " " not in a


def test_remove_tree_survives_chmod_and_deletion(tmp_path: Path) -> None:
    root = tmp_path / "job"
    (root / "locked/inner").mkdir(parents=True)
    (root / "locked/inner/f").write_text("x")
    (root / "locked/inner/f").chmod(0o000)
    (root / "locked/inner").chmod(0o000)
    (root / "locked").chmod(0o500)
    remove_tree(str(root))
    assert not root.exists()
    remove_tree(str(root))  # already gone: nothing to do


def test_fast_work_root_is_a_writable_directory_with_room_or_none() -> None:
    root = fast_work_root(min_free=1)
    if root is not None:
        assert os.path.isdir(root) and os.access(root, os.W_OK)
    assert fast_work_root(min_free=1 << 62) is None


def test_a_small_job_directory_is_removed_at_once_links_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    root = tmp_path / "job"
    (root / "workspace/src").mkdir(parents=True)
    (root / "workspace/src/a.py").write_text("x")
    (root / "temp").mkdir()
    (root / "workspace/link").symlink_to(outside)
    (root / "workspace/dangling").symlink_to(tmp_path / "nowhere")
    assert remove_small_tree(str(root)) is True
    assert not root.exists()
    assert (outside / "keep").read_text() == "x"
    assert remove_small_tree(str(root)) is True  # already gone


def test_a_big_tree_is_left_for_a_thread(tmp_path: Path) -> None:
    root = tmp_path / "job"
    (root / "d").mkdir(parents=True)
    for i in range(5):
        (root / "d" / str(i)).write_text("x")
    assert remove_small_tree(str(root), limit=4) is False
    assert len(list((root / "d").iterdir())) == 5
    assert remove_small_tree(str(root), limit=7) is True  # the root, d and 5 files
    assert not root.exists()


def test_a_small_tree_a_job_locked_is_removed_too(tmp_path: Path) -> None:
    root = tmp_path / "job"
    (root / "locked/inner").mkdir(parents=True)
    (root / "locked/inner/f").write_text("x")
    (root / "locked/inner").chmod(0o000)
    (root / "locked").chmod(0o500)
    assert remove_small_tree(str(root)) is True
    assert not root.exists()
