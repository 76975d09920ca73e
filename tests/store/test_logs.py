from __future__ import annotations

from pathlib import Path

from stageline.store.logs import LogTail, slug, step_log_path


def test_slugs_are_file_name_safe() -> None:
    assert slug("test (3.11, ubuntu-latest)") == "test-3.11-ubuntu-latest"
    assert slug("../../etc") == "etc"
    assert slug("") == "x"


def test_step_log_path_is_under_the_run(tmp_path: Path) -> None:
    path = step_log_path(tmp_path, "build.2", 0, "Run npm test")
    assert path == tmp_path / "build.2" / "01-Run-npm-test.log"


def test_log_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "step.log"
    tail = LogTail(path)
    assert list(tail.read()) == []  # not there yet
    path.write_text("one\ntw")
    assert list(tail.read()) == ["one"]
    with path.open("a") as handle:
        handle.write("o\nthree")
    assert list(tail.read()) == ["two"]
    assert list(tail.read(final=True)) == ["three"]


def test_paths_under_the_stores_logs_are_kept_relative_and_read_absolute(tmp_path: Path) -> None:
    from stageline.store.logs import resolved_path, stored_path

    home = tmp_path / ".stageline"
    inside = str(home / "logs" / "3" / "build" / "01-x.log")
    assert stored_path(home, inside) == "logs/3/build/01-x.log"
    assert resolved_path(home, "logs/3/build/01-x.log") == inside
    elsewhere = str(tmp_path / "rollbacks.log")
    assert stored_path(home, elsewhere) == elsewhere  # outside the logs: as it is
    beside = str(tmp_path / ".stageline-old" / "logs" / "1.log")
    assert stored_path(home, beside) == beside  # a sibling whose name starts alike
    assert stored_path(home, str(home / "x" / ".." / "logs" / "a.log")) == "logs/a.log"
    assert stored_path(home, str(home / "logsbook.log")) == str(home / "logsbook.log")
    assert resolved_path(home, "/old/abs/01-x.log") == "/old/abs/01-x.log"  # older records


def test_logs_still_read_after_the_repository_moves(tmp_path: Path) -> None:
    from tests.e2e.test_run_cli import make_repo, stageline

    workflow = "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
    workflow += "      - run: echo hello from before the move\n"
    repo = make_repo(tmp_path / "here", {".github/workflows/ci.yml": workflow})
    assert stageline(repo, "run").returncode == 0
    moved = repo.rename(tmp_path / "there")
    done = stageline(moved, "logs", "1")
    assert done.returncode == 0, done.stderr
    assert "hello from before the move" in done.stdout
    shown = stageline(moved, "show", "1", "--json")
    assert str(tmp_path / "there") in shown.stdout and str(repo) + "/" not in shown.stdout
