"""Hand-built plan pieces for tests that bypass the workflow loader."""

from __future__ import annotations

from typing import Any

from stageline.plan.model import PlannedStep


def planned_step(index: int, run: str | None, **fields: Any) -> PlannedStep:
    """A `PlannedStep` with GitHub's defaults; `fields` override any of them."""
    values: dict[str, Any] = {
        "index": index,
        "id": None,
        "name": None,
        "if_": None,
        "run": run,
        "shell": None,
        "uses": None,
        "with_": {},
        "env": {},
        "working_directory": None,
        "continue_on_error": False,
        "timeout_minutes": None,
    }
    values.update(fields)
    return PlannedStep(**values)
