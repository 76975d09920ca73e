"""Every error a user can see, with where it came from.

Tree::

    StagelineError              base; exit code 1 at the CLI, printed without a traceback
    ├── ExpressionError         lexing, parsing or evaluating a ${{ }} expression
    ├── WorkflowError           a workflow file is invalid; carries every Diagnostic of the file
    ├── ConfigError             .stageline.yml or a CLI option is invalid
    ├── RunError                a run cannot start or continue (no matching workflow, unknown run)
    └── StoreError              the record cannot be read or written

A `Position` is 1-based (line and column), like every editor and GitHub's own
annotations. `Diagnostic.render()` gives the one format users see:
``path:line:col: error: message`` followed by an indented ``hint:`` line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a source file; `line` and `col` are 1-based."""

    path: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def shifted(self, columns: int) -> Position:
        """The position `columns` characters further on the same line."""
        return replace(self, col=self.col + columns)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a source file."""

    position: Position | None
    message: str
    severity: Severity = "error"
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.position}: " if self.position else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class StagelineError(Exception):
    """Base of all user-facing errors. `str(err)` is what the CLI prints."""

    def __init__(
        self, message: str, position: Position | None = None, hint: str | None = None
    ) -> None:
        self.message = message
        self.position = position
        self.hint = hint
        super().__init__(self.diagnostic().render())

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.position, self.message, "error", self.hint)


class ExpressionError(StagelineError):
    """A ${{ }} expression could not be lexed, parsed or evaluated.

    `offset` is the 0-based character offset inside the expression text; the
    message always names it ("at column N") so the error is useful even when
    the expression has no file position.
    """

    def __init__(
        self,
        message: str,
        offset: int = 0,
        position: Position | None = None,
        hint: str | None = None,
    ) -> None:
        self.offset = offset
        super().__init__(message, position, hint)


class WorkflowError(StagelineError):
    """A workflow (or config) file has errors; `diagnostics` holds all of them."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0] if errors else Diagnostic(None, "invalid workflow")
        super().__init__(first.message, first.position, first.hint)

    def __str__(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


class ConfigError(StagelineError):
    """Configuration (.stageline.yml, CLI options, env files) is invalid."""


class RunError(StagelineError):
    """A run cannot be started, resumed or found."""


class StoreError(StagelineError):
    """The store (database or log files) cannot be read or written."""


__all__ = [
    "ConfigError",
    "Diagnostic",
    "ExpressionError",
    "Position",
    "RunError",
    "Severity",
    "StagelineError",
    "StoreError",
    "WorkflowError",
]
