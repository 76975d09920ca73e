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
