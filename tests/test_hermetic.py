"""The suite's guard (tests/conftest.py): github.com is out of reach for every git."""

from __future__ import annotations

import subprocess


def test_git_cannot_reach_github_from_the_tests() -> None:
    done = subprocess.run(
        ["git", "ls-remote", "https://github.com/actions/checkout"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "127.0.0.1" in done.stderr
