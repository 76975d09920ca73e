"""What a built-in or local action receives when its step runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stageline.plan.model import PlannedStep
from stageline.runner.state import JobState, Scope


@dataclass(slots=True)
class ActionCall:
    state: JobState
    scope: Scope
    step: PlannedStep
    #: `with:` inputs, evaluated (defaults are the action's business).
    inputs: dict[str, str]
    contexts: Mapping[str, Any]
    own_env: Mapping[str, str]
    deadline: float
    action: str
    #: The `@REF` of the `uses:` (``v4``), '' for local actions.
    ref: str = ""
    repository: str = ""

    def input(self, name: str, default: str = "") -> str:
        """An input by name, case-insensitively, as GitHub matches them."""
        for key, value in self.inputs.items():
            if key.lower() == name.lower():
                return value
        return default

    def flag(self, name: str, default: bool) -> bool:
        value = self.input(name, "").strip().lower()
        return default if not value else value == "true"

    def log(self, line: str) -> None:
        self.scope.log.write(line)

    def major_version(self) -> int | None:
        """The major version of `ref` (``v3`` → 3), None for a branch or commit."""
        text = self.ref.lstrip("vV").split(".")[0]
        return int(text) if text.isdigit() else None

    def workspace_path(self, relative: str) -> str:
        import os

        ws = self.state.ws.workspace
        return os.path.normpath(os.path.join(ws, os.path.expanduser(relative)))
