"""`stageline run` (placeholder until its issue lands)."""

from __future__ import annotations


def run() -> None:
    """Run a workflow."""
    raise NotImplementedError
