"""The dispatch form's inputs: `name=value` lines."""

from __future__ import annotations

import pytest

from stageline.server.web.control import parse_inputs


def test_lines_become_inputs_and_blank_lines_are_skipped() -> None:
    assert parse_inputs("who = web\n\nnap=0\nurl=http://x/?a=b\n") == {
        "who": "web",
        "nap": "0",
        "url": "http://x/?a=b",
    }


@pytest.mark.parametrize("text", ["just words", "=value"])
def test_a_line_without_a_name_is_refused_by_its_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"inputs line 2: expected name=value"):
        parse_inputs(f"a=1\n{text}")
