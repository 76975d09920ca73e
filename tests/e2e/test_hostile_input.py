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


HELLO = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: echo hi}]\n"


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode in (1, 2), (result.returncode, result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"environments:\n  prod:\n    url: caf\xe9\n", "3:13: error: the file is not valid UTF-8"),
        (b"environments:\n  prod:\n    url: a\x00b\n", "3:11: error: invalid YAML: the file"),
        (b"environments: " + b"[" * 3000 + b"]" * 3000, "1:1: error: invalid YAML: the document"),
    ],
    ids=["latin-1", "nul", "deep"],
)
@pytest.mark.parametrize("command", ["run", "environments", "lint"])
def test_an_unreadable_stageline_yml_is_a_positioned_error(
    repo: Path, command: str, content: bytes, message: str
) -> None:
    (repo / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    commit(repo)
    assert stageline(repo, "run").returncode == 0  # a record for `environments` to read
    (repo / ".stageline.yml").write_bytes(content)
    commit(repo)
    result = stageline(repo, command)
    no_traceback(result)
    assert f".stageline.yml:{message}" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ("show",),
        ("logs",),
        ("approve", "--env", "prod"),
        ("reject", "--env", "prod"),
        ("resume",),
        ("rollback", "prod", "--to"),
    ],
)
def test_an_id_beyond_64_bits_is_a_usage_error(repo: Path, args: tuple[str, ...]) -> None:
    (repo / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    commit(repo)
    env = {"STAGELINE_HOME": str(repo / ".home")}
    assert stageline(repo, "run", env=env).returncode == 0
    command, *rest = args
    too_big = str(2**63)
    argv = [command, too_big, *rest] if command != "rollback" else [*args, too_big]
    result = stageline(repo, *argv, env=env)
    no_traceback(result)
    assert result.returncode == 2
    assert "9223372036854775807" in result.stderr  # the range, not an overflow


@pytest.mark.slow
@pytest.mark.parametrize(
    "payload",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 900 + "1" + "}" * 900],
    ids=["100000-deep", "900-deep"],
)
def test_a_deeply_nested_event_payload_is_refused(repo: Path, payload: str) -> None:
    (repo / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    commit(repo)
    (repo.parent / "event.json").write_text(payload)
    result = stageline(repo, "run", "--eventpath", str(repo.parent / "event.json"))
    no_traceback(result)
    assert "event.json nests deeper than 64 levels" in result.stderr


@pytest.mark.slow
def test_a_secret_file_that_is_a_directory_says_so(repo: Path) -> None:
    (repo / ".github" / "workflows" / "ci.yml").write_text(HELLO)
    commit(repo)
    (repo.parent / "secrets").mkdir()
    result = stageline(repo, "run", "--secret-file", str(repo.parent / "secrets"))
    no_traceback(result)
    assert "secret file" in result.stderr and "secrets is a directory" in result.stderr
