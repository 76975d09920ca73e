"""Who is deciding: ``--as``, STAGELINE_USER, git's user.email mapped under ``users:``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stageline.deploy.config import parse_config
from stageline.deploy.reviewers import resolve_reviewer, who_am_i
from stageline.errors import ConfigError

CONFIG = parse_config("users: {alice@example.com: alice}\n")


def test_resolve_reviewer() -> None:
    git = "Alice@Example.com"
    assert (
        resolve_reviewer(CONFIG, explicit="bob", environ={"STAGELINE_USER": "x"}, git_email=git)
        == "bob"
    )
    assert (
        resolve_reviewer(CONFIG, explicit=None, environ={"STAGELINE_USER": "x"}, git_email=git)
        == "x"
    )
    assert resolve_reviewer(CONFIG, explicit=None, environ={}, git_email=git) == "alice"
    with pytest.raises(ConfigError, match="not mapped to a user"):
        resolve_reviewer(CONFIG, explicit=None, environ={}, git_email="eve@example.com")
    with pytest.raises(ConfigError, match="cannot tell who you are"):
        resolve_reviewer(CONFIG, explicit=None, environ={}, git_email=None)


def test_who_am_i_reads_the_repository_git_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_USER", raising=False)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "config", "user.email", "alice@example.com"], cwd=tmp_path, check=True)
    assert who_am_i(CONFIG, str(tmp_path), None) == "alice"
    assert who_am_i(CONFIG, str(tmp_path), "carol") == "carol"
    monkeypatch.setenv("STAGELINE_USER", "dave")
    assert who_am_i(CONFIG, str(tmp_path), None) == "dave"
