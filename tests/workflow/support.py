"""Helpers shared by the loader and validation tests (positions come from the
source text, never from our own output)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow import Workflow, load_workflow

FIXTURES = Path(__file__).parent / "fixtures"


def load(text: str, path: str = "wf.yml") -> Workflow:
    """Load dedented YAML text as a workflow file named `path`."""
    return load_workflow(path, textwrap.dedent(text))


def errors_of(text: str, path: str = "wf.yml") -> list[Diagnostic]:
    """The error diagnostics of a workflow that must fail to load."""
    with pytest.raises(WorkflowError) as caught:
        load(text, path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def where(text: str, needle: str, offset: int = 0, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the `occurrence`-th `needle` in dedented `text`, plus
    `offset` columns: expected positions are computed from the source, not from our
    own output."""
    source = textwrap.dedent(text)
    index = -1
    for _ in range(occurrence):
        index = source.index(needle, index + 1)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col + offset


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    assert diagnostic.position is not None
    return diagnostic.position.line, diagnostic.position.col


def one(diagnostics: list[Diagnostic], fragment: str) -> Diagnostic:
    """The single diagnostic whose message contains `fragment`."""
    found = [d for d in diagnostics if fragment in d.message]
    assert len(found) == 1, [d.render() for d in diagnostics]
    return found[0]
