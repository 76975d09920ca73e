"""Finding and loading workflow files: text → validated `Workflow`, or a
`WorkflowError` that carries every diagnostic of the file."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stageline.errors import Diagnostic, Position, WorkflowError
from stageline.workflow.build import Builder
from stageline.workflow.model import Workflow
from stageline.workflow.validate import validate_workflow
from stageline.workflow.yamlsrc import Source, YamlSyntaxError

#: Where workflows live, relative to the repository root.
WORKFLOW_DIRS = (Path(".github", "workflows"), Path(".stageline", "workflows"))
_SUFFIXES = (".yml", ".yaml")


def find_workflows(root: str | os.PathLike[str]) -> list[Path]:
    """The workflow files of the repository at `root`, sorted."""
    found: list[Path] = []
    for directory in WORKFLOW_DIRS:
        folder = Path(root, directory)
        if folder.is_dir():
            found.extend(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    return sorted(found)


def load_workflow(path: str | os.PathLike[str], text: str | None = None) -> Workflow:
    """Load and validate the workflow at `path` (or `text`, reported as `path`).

    Raises `WorkflowError` with every error of the file (warnings included, for
    context); on success the warnings are in `Workflow.warnings`.
    """
    name = os.fspath(path)
    if text is None:
        text = _read(name)
    source = Source(name, text)
    with _collector_paused():
        try:
            root = source.compose()
        except YamlSyntaxError as err:
            raise WorkflowError([err.diagnostic]) from None
        workflow = Builder(source).workflow(root)
        diagnostics = _ordered([*source.diagnostics, *validate_workflow(workflow)])
    if any(d.severity == "error" for d in diagnostics):
        raise WorkflowError(diagnostics)
    workflow.warnings = diagnostics
    return workflow


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading allocates many small acyclic objects; the cyclic garbage collector
    would rescan them again and again (it doubled the time for 2,000 jobs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(name: str) -> str:
    try:
        data = Path(name).read_bytes()
    except OSError as err:
        reason = err.strerror or str(err)
        raise WorkflowError(
            [Diagnostic(Position(name), f"cannot read workflow: {reason}")]
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        raise WorkflowError(
            [Diagnostic(Position(name, line, col), "the workflow file is not valid UTF-8")]
        ) from None


def _ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """File order; the same finding reported twice is kept once."""
    unique = dict.fromkeys(diagnostics)

    def key(d: Diagnostic) -> tuple[int, int]:
        return (d.position.line, d.position.col) if d.position else (0, 0)

    return sorted(unique, key=key)
