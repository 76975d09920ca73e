"""`stageline hook install`, run as a user runs it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.cli import stageline
from tests.support.git import git


def test_it_installs_the_hook_with_the_secret_from_a_file(tmp_path: Path) -> None:
    bare = tmp_path / "webapp.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    (tmp_path / "secret").write_text("s3cret\n")
    done = stageline(
        tmp_path,
        "hook",
        "install",
        str(bare),
        "--server",
        "http://127.0.0.1:8750",
        "--repo",
        "webapp",
        "--secret-file",
        str(tmp_path / "secret"),
    )
    assert done.returncode == 0, done.stderr
    hook = bare / "hooks" / "post-receive"
    assert done.stdout.strip() == (
        f"installed {hook}: pushes to {bare} trigger webapp on http://127.0.0.1:8750"
    )
    assert os.access(hook, os.X_OK)
    assert (bare / "hooks" / "stageline.secret").read_text() == "s3cret\n"


def test_it_takes_the_secret_from_the_environment(tmp_path: Path) -> None:
    bare = tmp_path / "webapp.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    args = ("hook", "install", str(bare), "--server", "http://127.0.0.1:8750", "--repo", "w")
    done = stageline(tmp_path, *args, env={"STAGELINE_WEBHOOK_SECRET": "from-env"})
    assert done.returncode == 0, done.stderr
    assert (bare / "hooks" / "stageline.secret").read_text() == "from-env\n"


def test_without_a_secret_or_a_bare_repository_it_says_what_to_do(tmp_path: Path) -> None:
    bare = tmp_path / "webapp.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    args = ("hook", "install", str(bare), "--server", "http://127.0.0.1:8750", "--repo", "w")
    done = stageline(tmp_path, *args)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: the hook needs the repository's webhook secret",
        "  hint: --secret-file FILE (as given to `stageline repo add`), "
        "or $STAGELINE_WEBHOOK_SECRET",
    ]
    assert "Traceback" not in done.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    args = ("hook", "install", str(plain), "--server", "http://127.0.0.1:8750", "--repo", "w")
    done = stageline(tmp_path, *args, env={"STAGELINE_WEBHOOK_SECRET": "x"})
    assert done.returncode == 1
    assert f"error: {plain} is not a bare git repository" in done.stderr
