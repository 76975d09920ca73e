"""Workflow commands, with the examples of GitHub's "Workflow commands" page."""

from stageline.runner.commands import (
    SET_OUTPUT_DEPRECATED,
    CommandEffects,
    CommandProcessor,
    parse_command,
)
from stageline.runner.masking import Masker


def feed(lines: list[str], **kwargs: bool) -> tuple[list[str | None], CommandEffects, Masker]:
    masker = Masker()
    processor = CommandProcessor(masker, **kwargs)
    effects = CommandEffects()
    shown = [processor.feed(line, effects, 3) for line in lines]
    return shown, effects, masker


def test_error_annotation_with_file_and_line() -> None:
    shown, effects, _ = feed(["::error file=app.js,line=1::Missing semicolon"])
    assert shown == ["##[error]Missing semicolon"]
    (annotation,) = effects.annotations
    assert (annotation.level, annotation.file, annotation.line) == ("error", "app.js", 1)
    assert annotation.message == "Missing semicolon"
    assert annotation.step_index == 3


def test_warning_with_title_and_col_and_notice() -> None:
    _, effects, _ = feed(
        [
            "::warning file=main.js,line=1,col=5,endColumn=7,title=YOUR-TITLE::Missing semicolon",
            "::notice file=app.js,line=1,col=5,endColumn=7::Missing semicolon",
        ]
    )
    warning, notice = effects.annotations
    assert (warning.level, warning.title, warning.col) == ("warning", "YOUR-TITLE", 5)
    assert notice.level == "notice"


def test_escaped_data_and_properties() -> None:
    parsed = parse_command("::error title=a%3Ab%2Cc::line1%0Aline2 100%25")
    assert parsed is not None
    assert parsed.properties == {"title": "a:b,c"}
    assert parsed.data == "line1\nline2 100%"


def test_leading_whitespace_is_allowed_and_unknown_commands_are_output() -> None:
    shown, effects, _ = feed(["   ::notice::indented", "::not-a-command::text", "plain ::x::"])
    assert shown[1:] == ["::not-a-command::text", "plain ::x::"]
    assert [a.message for a in effects.annotations] == ["indented"]


def test_add_mask_registers_the_value_and_prints_nothing() -> None:
    shown, _, masker = feed(["::add-mask::hunter2"])
    assert shown == [None]
    assert masker.mask("pw is hunter2") == "pw is ***"


def test_group_and_debug() -> None:
    shown, _, _ = feed(["::group::My title", "inside", "::endgroup::", "::debug::hidden"])
    assert shown == ["##[group]My title", "inside", "##[endgroup]", None]
    shown, _, _ = feed(["::debug::visible"], debug=True)
    assert shown == ["##[debug]visible"]


def test_stop_commands_until_the_token_comes_back() -> None:
    shown, effects, _ = feed(
        [
            "::warning:: This is a warning message, to demonstrate that commands are being "
            "processed.",
            "::stop-commands::pause-logging",
            "::warning:: This will NOT be rendered as a warning, because stop-commands has "
            "been invoked.",
            "::pause-logging::",
            "::warning:: This is a warning again, because stop-commands has been turned off.",
        ]
    )
    assert len(effects.annotations) == 2
    assert shown[2] is not None and shown[2].startswith("::warning::")
    assert shown[3] is None


def test_set_output_still_works_with_a_deprecation_warning() -> None:
    _shown, effects, _ = feed(["::set-output name=result::42"])
    assert effects.outputs == {"result": "42"}
    assert effects.annotations[0].level == "warning"
    assert effects.annotations[0].message == SET_OUTPUT_DEPRECATED
    assert not effects.errors


def test_set_env_and_add_path_are_disabled_by_default() -> None:
    _, effects, _ = feed(["::set-env name=A::1", "::add-path::/opt/bin"])
    assert effects.env == {} and effects.path == []
    assert len(effects.errors) == 2
    assert "ACTIONS_ALLOW_UNSECURE_COMMANDS" in effects.errors[0]


def test_set_env_and_add_path_when_unsecure_commands_are_allowed() -> None:
    _, effects, _ = feed(["::set-env name=A::1", "::add-path::/opt/bin"], allow_unsecure=True)
    assert effects.env == {"A": "1"} and effects.path == ["/opt/bin"]
    assert not effects.errors


def test_save_state() -> None:
    _, effects, _ = feed(["::save-state name=pid::123"])
    assert effects.state == {"pid": "123"}
