"""Bad input of every kind: the loader returns a `Workflow` or raises `WorkflowError`
whose diagnostics all have a position, and nothing else (no other exception, no
crash, no hang)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageline.errors import WorkflowError
from stageline.workflow import Workflow, load_workflow
from stageline.workflow.build import JOB_KEYS, STEP_KEYS, WORKFLOW_KEYS
from stageline.workflow.triggers import EVENTS
from tests.workflow.support import FIXTURES, FULL

SEEDS = [FULL, (FIXTURES / "multi-stage.yml").read_text()]
YAML_CHARS = ":-[]{}#&*!|>'\"%@`,?\n\t ${}()=.~0123456789abcxyz"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(path: str | Path, text: str | None = None) -> Workflow | WorkflowError:
    try:
        workflow = load_workflow(path, text)
    except WorkflowError as err:
        assert err.diagnostics
        assert all(d.position is not None for d in err.diagnostics), str(err)
        assert any(d.severity == "error" for d in err.diagnostics)
        return err
    assert all(w.severity == "warning" for w in workflow.warnings)
    return workflow


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    outcome("fuzz.yml", text)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=300))
def test_random_bytes_from_a_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yml"
    path.write_bytes(data)
    outcome(path)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid workflow with a few random edits: deletions, insertions of YAML-significant
    characters, duplicated or dropped lines, changed indentation."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "drop", "indent"]))
        lines = text.split("\n")
        if kind == "delete" and text:
            start = draw(st.integers(0, len(text) - 1))
            text = text[:start] + text[start + draw(st.integers(1, 8)) :]
        elif kind == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(YAML_CHARS, min_size=1, max_size=6)) + text[at:]
        else:
            index = draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate":
                lines.insert(index, lines[index])
            elif kind == "drop":
                del lines[index]
            else:
                lines[index] = " " * draw(st.integers(0, 6)) + lines[index].lstrip()
            text = "\n".join(lines)
    return text


@FUZZ
@given(mutated())
def test_mutated_valid_workflows(text: str) -> None:
    outcome("fuzz.yml", text)


KEYS = st.sampled_from(
    [*WORKFLOW_KEYS, *JOB_KEYS, *STEP_KEYS, *EVENTS[:8], "branches", "matrix", "include",
     "cron", "inputs", "type", "group", "url", "shell", "build", "test"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(allow_nan=True),
    st.sampled_from(["ubuntu-latest", "${{ github.ref }}", "${{ ", "${{ x( }}", "a/b@v1", "*"]),
    st.text(max_size=12),
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"on": VALUES, "jobs": st.dictionaries(KEYS, VALUES, max_size=4)},
        optional={k: VALUES for k in ("name", "env", "permissions", "concurrency", "defaults")},
    )
)
def test_documents_of_workflow_keys_with_random_shapes(document: dict[str, Any]) -> None:
    outcome("fuzz.yml", yaml.safe_dump(document, sort_keys=False))
