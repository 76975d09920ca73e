"""`stageline runs`/`show`/`logs` where there is nothing to read."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_run import WORKFLOW
from tests.e2e.test_run_cli import make_repo
from tests.support.cli import stageline


def test_commands_before_any_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    for args in (["runs"], ["show", "1"], ["logs", "1"]):
        done = stageline(repo, *args)
        assert done.returncode == 1
        assert "no runs recorded yet" in done.stderr


def test_show_logs_of_an_unknown_job(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".github/workflows/ci.yml": WORKFLOW})
    assert stageline(repo, "run").returncode == 0
    done = stageline(repo, "logs", "1", "nosuchjob")
    assert done.returncode == 1
    assert "run 1 has no job 'nosuchjob'" in done.stderr
    assert "only.1" in done.stderr  # the hint lists the jobs
    shown = stageline(repo, "show", "1")
    assert "only (1)" in shown.stdout and "only (2)" in shown.stdout
    assert "success" in shown.stdout
