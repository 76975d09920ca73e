"""Inputs typed by their declaration, with GitHub's rules for `workflow_dispatch` and
`workflow_call` inputs."""

from __future__ import annotations

import pytest

from stageline.errors import RunError
from stageline.workflow.inputs import input_text, typed_values

DECLARED = {
    "dry": {"type": "boolean", "default": False},
    "count": {"type": "number", "default": 2},
    "ratio": {"type": "number"},
    "size": {"type": "choice", "options": ["s", "m"], "default": "s"},
    "name": {"type": "string", "required": True},
    "loose": "not a mapping",
}


def test_given_values_over_defaults_each_typed() -> None:
    given = {"dry": "TRUE", "ratio": "0.5", "name": 7, "extra": "kept"}
    assert typed_values(DECLARED, given, "ci.yml") == {
        "dry": True,
        "count": 2,
        "size": "s",
        "ratio": 0.5,
        "name": "7",
        "extra": "kept",
    }


def test_whole_numbers_stay_integers_whatever_their_form() -> None:
    assert typed_values(DECLARED, {"count": 3.0}, "x")["count"] == 3
    assert typed_values(DECLARED, {"count": "4"}, "x")["count"] == 4
    assert typed_values(DECLARED, {"count": "4.0"}, "x")["count"] == 4.0


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"dry": "maybe"}, "ci.yml: input 'dry' is a boolean, got 'maybe'"),
        ({"count": "many"}, "ci.yml: input 'count' is a number, got 'many'"),
        ({"size": "xl"}, "ci.yml: input 'size' must be one of its options, got 'xl'"),
    ],
)
def test_a_value_its_type_refuses_names_the_input(given: dict[str, str], message: str) -> None:
    with pytest.raises(RunError) as caught:
        typed_values(DECLARED, given, "ci.yml")
    assert caught.value.message == message


def test_input_text_is_what_github_event_inputs_shows() -> None:
    assert [input_text(v) for v in (True, False, None, 3)] == ["true", "false", "", "3"]
