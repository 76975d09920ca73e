from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stageline.engine.gitinfo import changed_paths, git_facts, repository_from_url
from stageline.errors import RunError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop", "acme/shop"),
        ("ssh://git@github.com:22/acme/shop.git", "acme/shop"),
        ("https://user:token@gitlab.example.com/group/sub/shop.git", "sub/shop"),
        ("/srv/git/shop.git", None),
    ],
)
def test_repository_from_remote_url(url: str, expected: str | None) -> None:
    assert repository_from_url(url) == expected


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_facts_of_a_repository(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "trunk")
    _git(tmp_path, "config", "user.name", "Bob")
    (tmp_path / "a.txt").write_text("a")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.email=b@x", "commit", "-q", "-m", "one")
    (tmp_path / "sub").mkdir()
    facts = git_facts(tmp_path / "sub")
    assert facts.root == tmp_path.resolve()
    assert facts.ref == "refs/heads/trunk"
    assert facts.actor == "Bob"
    assert facts.repository == f"local/{tmp_path.name}"  # no origin remote
    assert len(facts.sha) == 40
    assert changed_paths(facts.root, facts.sha) == ["a.txt"]
    _git(tmp_path, "remote", "add", "origin", "https://github.com/acme/shop.git")
    assert git_facts(tmp_path).repository == "acme/shop"
    _git(tmp_path, "checkout", "-q", "--detach")
    detached = git_facts(tmp_path)
    assert (detached.ref, detached.sha) == ("", facts.sha)


def test_outside_a_repository_or_before_a_commit(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not in a git repository"):
        git_facts(tmp_path)
    _git(tmp_path, "init", "-q")
    with pytest.raises(RunError, match="no commit yet"):
        git_facts(tmp_path)
