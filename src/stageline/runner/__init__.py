"""The job runner: runs one job's steps on this machine (see docs/adr/0001-runner-package.md).

Public surface: `run_job` (what executors call), `check_uses` (the engine's pre-run check
of every `uses:`), `remove_tree` (robust removal of a run's work root), `fast_work_root`
(a memory-backed place for work roots), the contract dataclasses in
`stageline.runner.contract`, the ports a job needs from its machine in
`stageline.runner.ports` and their local implementations in `stageline.runner.places`
(ADR 0003).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stageline.runner.actions import check_uses
    from stageline.runner.job import run_job
    from stageline.runner.workspace import fast_work_root, remove_tree

#: Where each public name lives, imported on first use: the package is imported by
#: every command (`runner.workroots`), which must not pay for the job runner, and a
#: workflow of `run:` steps never needs the built-in actions (`check_uses`).
_HOMES = {
    "check_uses": "stageline.runner.actions",
    "fast_work_root": "stageline.runner.workspace",
    "remove_tree": "stageline.runner.workspace",
    "run_job": "stageline.runner.job",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["check_uses", "fast_work_root", "remove_tree", "run_job"]
