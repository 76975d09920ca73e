"""`stageline run` option handling: errors are one clear message, exit 1 (2 for usage)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_run_cli import make_repo
from tests.support.cli import stageline

WORKFLOW = """\
on: push
jobs:
  only:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: echo "leg ${{ matrix.n }}"
"""


def test_a_malformed_pair_option_is_a_clear_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    done = stageline(repo, "run", "--input", "novalue")
    assert done.returncode == 1
    assert done.stderr.startswith("error: --input expects KEY=VALUE, got 'novalue'")
    assert "Traceback" not in done.stderr


def test_parallel_must_be_positive(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    done = stageline(repo, "run", "--parallel", "0")
    assert done.returncode == 2
    assert "--parallel" in done.stderr


def test_outside_a_git_repository(tmp_path: Path) -> None:
    done = stageline(tmp_path, "run")
    assert done.returncode == 1
    assert "is not in a git repository" in done.stderr


def test_matrix_filter_runs_only_matching_legs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    done = stageline(repo, "run", "--matrix", "n:2")
    assert done.returncode == 0, done.stderr
    assert "leg 2" in done.stdout and "leg 1" not in done.stdout
    assert "[only (2)/" in done.stdout  # off a terminal: line logs prefixed [job/step]
    bad = stageline(repo, "run", "--matrix", "n:9")
    assert bad.returncode == 1 and "leaves no leg" in bad.stderr
