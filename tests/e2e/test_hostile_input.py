"""Hostile input through the real `stageline` command: every answer is a positioned
error or a one-line message, quickly, and never a traceback (issue 12, items 5-9)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import stageline

LAUGHS = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
    steps:
      - run: echo hi
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    return root


def commit(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "wip")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [("validate",), ("graph", ".github/workflows/laughs.yml"), ("lint",), ("run",)]
)
def test_nested_anchors_are_refused_at_the_alias_in_well_under_a_second(
    repo: Path, args: tuple[str, ...]
) -> None:
    (repo / ".github" / "workflows" / "laughs.yml").write_text(LAUGHS)
    commit(repo)
    started = time.perf_counter()
    result = stageline(repo, *args, env={"STAGELINE_HOME": str(repo / ".home")}, timeout=30)
    elapsed = time.perf_counter() - started
    # The aliases of b, c and d stand for 12,330 nodes; the 8th in e's list passes 100,000.
    assert ".github/workflows/laughs.yml:11:37: error: YAML aliases expand to more than" in (
        result.stdout + result.stderr
    ), result.stderr
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # The interpreter and CLI start take most of it; the load itself is milliseconds.
    assert elapsed < 10, elapsed
