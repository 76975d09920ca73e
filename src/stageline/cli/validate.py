"""`stageline validate [PATH...]`: check workflow files without running them.

Its argument, as Typer sees it; a plain command line skips Typer (`cli.fastargs`) and
goes straight to `cli.validating.validate_paths`, which does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Workflow files, or directories (a repository: its .github/workflows "
            "and .stageline/workflows; any other directory: its *.yml/*.yaml files). "
            "Default: every workflow of the repository you stand in.",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Validate workflow files: YAML syntax, keys, types, needs, expressions, matrices."""
    from stageline.cli.validating import validate_paths

    return validate_paths(list(paths or []))
