"""Posted dispatch fields typed by the workflow's declarations."""

from __future__ import annotations

import pytest

from stageline.errors import RunError
from stageline.server.web.dispatchform import Declared, fields, posted, typed

SPEC = Declared(
    ".github/workflows/t.yml",
    {
        "dry": {"type": "boolean", "default": True},
        "level": {"type": "choice", "options": ["low", "high"], "default": "low"},
        "count": {"type": "number"},
        "note": {"type": "string", "required": True},
    },
)


def test_an_unchecked_box_is_false_and_an_empty_field_takes_its_default() -> None:
    given = posted(SPEC, {"input.level": "", "input.count": " 4 ", "input.note": "hi"})
    assert given == {"dry": "false", "count": "4", "note": "hi"}
    assert typed(SPEC, given) == {"dry": "false", "level": "low", "count": "4", "note": "hi"}


def test_fields_show_what_was_posted_over_the_defaults() -> None:
    shown = {f.name: f.value for f in fields(SPEC, {"dry": "false"})}
    assert shown == {"dry": "false", "level": "low", "count": "", "note": ""}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"dry": "false"}, "input 'note' is required"),
        ({"note": "n", "count": "1e"}, "input 'count' is a number"),
    ],
)
def test_a_wrong_or_missing_value_is_refused(given: dict[str, str], message: str) -> None:
    with pytest.raises(RunError, match=message):
        typed(SPEC, given)
