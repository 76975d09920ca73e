"""plan layer (see DESIGN.md): a workflow and an event compiled into plain data."""

from stageline.plan.compile import compile_plan, event_contexts, expand_deferred
from stageline.plan.model import Event, Plan, PlannedEnvironment, PlannedJob, PlannedStep

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
