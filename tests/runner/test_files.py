"""File commands, with the examples of GitHub's "Workflow commands" page."""

import os
from pathlib import Path

import pytest

from stageline.runner.files import (
    SUMMARY_LIMIT,
    FileCommandError,
    StepFiles,
    build_path,
    parse_key_values,
    prepend_path,
)


def test_name_value_lines_split_at_the_first_equals_sign() -> None:
    assert parse_key_values("a=1\n\nb=x=y\nc=\n", "env") == {"a": "1", "b": "x=y", "c": ""}


def test_heredoc_values_span_lines() -> None:
    text = 'JSON_RESPONSE<<EOF\n{\n  "a": 1\n}\nEOF\nNEXT=1\n'
    assert parse_key_values(text, "env") == {"JSON_RESPONSE": '{\n  "a": 1\n}', "NEXT": "1"}


def test_equals_before_heredoc_marker_is_a_plain_value() -> None:
    assert parse_key_values("a=b<<c\n", "output") == {"a": "b<<c"}


def test_heredoc_without_closing_delimiter_fails() -> None:
    with pytest.raises(FileCommandError, match="Matching delimiter not found 'EOF'"):
        parse_key_values("A<<EOF\nvalue\n", "env")


@pytest.mark.parametrize("line", ["no-separator", "=value", "<<EOF"])
def test_malformed_lines_fail(line: str) -> None:
    with pytest.raises(FileCommandError, match="Invalid format"):
        parse_key_values(line + "\nEOF\n", "env")


def test_path_additions_take_precedence_in_reverse_order() -> None:
    additions: list[str] = []
    prepend_path(additions, ["/a", "/b"])
    prepend_path(additions, ["/a"])
    assert build_path(additions, "/usr/bin") == os.pathsep.join(["/a", "/b", "/usr/bin"])


def test_step_files_are_created_empty_and_collected(tmp_path: Path) -> None:
    files = StepFiles.create(str(tmp_path / "cmds"))
    env = files.env()
    assert set(env) == {
        "GITHUB_OUTPUT",
        "GITHUB_ENV",
        "GITHUB_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_STATE",
    }
    assert all(os.path.getsize(p) == 0 for p in env.values())
    Path(env["GITHUB_OUTPUT"]).write_text("x=1\n")
    Path(env["GITHUB_ENV"]).write_text("A=2\nNODE_OPTIONS=--inspect\n")
    Path(env["GITHUB_PATH"]).write_text("/tools/bin\n\n")
    Path(env["GITHUB_STATE"]).write_text("pid=7\n")
    Path(env["GITHUB_STEP_SUMMARY"]).write_text("### Hello world! :rocket:\n")
    effects = files.collect()
    assert effects.outputs == {"x": "1"}
    assert effects.env == {"A": "2"}
    assert effects.warnings == [
        "Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command."
    ]
    assert effects.path == ["/tools/bin"]
    assert effects.state == {"pid": "7"}
    assert effects.summary == "### Hello world! :rocket:\n"
    assert all(os.path.getsize(p) == 0 for p in env.values())  # fresh for the next step
    Path(env["GITHUB_OUTPUT"]).write_text("y=2\n")
    assert files.collect().outputs == {"y": "2"}


def test_oversized_summary_is_dropped_with_a_warning(tmp_path: Path) -> None:
    files = StepFiles.create(str(tmp_path))
    Path(files.env()["GITHUB_STEP_SUMMARY"]).write_text("x" * (SUMMARY_LIMIT + 1))
    effects = files.collect()
    assert effects.summary == ""
    assert "1024k" in effects.warnings[0]


def test_a_deleted_file_is_no_error(tmp_path: Path) -> None:
    files = StepFiles.create(str(tmp_path))
    os.unlink(files.env()["GITHUB_OUTPUT"])
    assert files.collect().outputs == {}
    assert os.path.exists(files.env()["GITHUB_OUTPUT"])
