"""The job runner: runs one job's steps on this machine (see docs/adr/0001-runner-package.md).

Public surface: `run_job` (what executors call), `check_uses` (the engine's pre-run check
of every `uses:`), `remove_tree` (robust removal of a run's work root), `fast_work_root`
(a memory-backed place for work roots), the contract dataclasses in
`stageline.runner.contract`, the ports a job needs from its machine in
`stageline.runner.ports` and their local implementations in `stageline.runner.places`
(ADR 0003).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stageline.runner.job import run_job
from stageline.runner.workspace import fast_work_root, remove_tree

if TYPE_CHECKING:
    from stageline.runner.actions import check_uses


def __getattr__(name: str) -> Any:
    """`check_uses` loads the built-in actions on first use: a workflow of `run:` steps
    never needs them."""
    if name == "check_uses":
        from stageline.runner.actions import check_uses

        return check_uses
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["check_uses", "fast_work_root", "remove_tree", "run_job"]
