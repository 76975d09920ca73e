"""ANSI → HTML: colours become spans, text is escaped, other escapes vanish."""

from __future__ import annotations

from stageline.server.web.ansi import strip, to_html


def test_plain_text_is_escaped() -> None:
    assert to_html("<b>&'x'</b>") == "&lt;b&gt;&amp;'x'&lt;/b&gt;"


def test_named_colours_and_reset() -> None:
    html = to_html("\x1b[31merror\x1b[0m ok \x1b[1;92mbright\x1b[m")
    assert html == ('<span class="fg-1">error</span> ok <span class="bold fg-10">bright</span>')


def test_background_and_default_colours() -> None:
    assert to_html("\x1b[44;33mx\x1b[39my\x1b[49mz") == (
        '<span class="fg-3 bg-4">x</span><span class="bg-4">y</span>z'
    )


def test_256_and_truecolour_become_inline_styles() -> None:
    assert to_html("\x1b[38;5;196mred") == '<span style="color:#ff0000">red</span>'
    assert to_html("\x1b[48;2;1;2;300mx") == '<span style="background:#0102ff">x</span>'
    assert to_html("\x1b[38;5;244mgrey") == '<span style="color:#808080">grey</span>'


def test_flags_set_and_unset() -> None:
    assert to_html("\x1b[1;4mab\x1b[22mc\x1b[24md") == (
        '<span class="bold underline">ab</span><span class="underline">c</span>d'
    )


def test_other_escapes_are_dropped() -> None:
    line = "\x1b]0;title\x07\x1b[2Kdone\x1b[1A \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"
    assert to_html(line) == "done link"
    assert strip("\x1b[31mred\x1b[0m") == "red"


def test_malformed_extended_colour_is_ignored() -> None:
    assert to_html("\x1b[38;5mx") == "x"
    assert to_html("\x1b[38;2;1mx") == "x"
