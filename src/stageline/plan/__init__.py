"""plan layer (see DESIGN.md): a workflow and an event compiled into plain data.

`compile_plan` and friends load lazily: a remote worker that only deserialises a
`PlannedJob` must not pay for the YAML loader behind `plan.compile`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stageline.plan.model import Event, Plan, PlannedEnvironment, PlannedJob, PlannedStep

if TYPE_CHECKING:
    from stageline.plan.compile import compile_plan, event_contexts, expand_deferred

_COMPILE = {"compile_plan", "event_contexts", "expand_deferred"}


def __getattr__(name: str) -> Any:
    if name in _COMPILE:
        from stageline.plan import compile as _compile

        return getattr(_compile, name)
    raise AttributeError(f"module 'stageline.plan' has no attribute {name!r}")


__all__ = [
    "Event",
    "Plan",
    "PlannedEnvironment",
    "PlannedJob",
    "PlannedStep",
    "compile_plan",
    "event_contexts",
    "expand_deferred",
]
