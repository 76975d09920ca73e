"""The workflow language: load GitHub Actions workflow files into positioned spec
dataclasses (`workflow.model`), validate them, expand matrices, match triggers and
build the job graph. Nothing here runs anything."""

from stageline.workflow.loader import WORKFLOW_DIRS, find_workflows, load_workflow
from stageline.workflow.model import (
    Concurrency,
    EnvironmentRef,
    Job,
    Node,
    RunDefaults,
    Step,
    Strategy,
    Trigger,
    Workflow,
)
from stageline.workflow.validate import validate_workflow

__all__ = [
    "WORKFLOW_DIRS",
    "Concurrency",
    "EnvironmentRef",
    "Job",
    "Node",
    "RunDefaults",
    "Step",
    "Strategy",
    "Trigger",
    "Workflow",
    "find_workflows",
    "load_workflow",
    "validate_workflow",
]
