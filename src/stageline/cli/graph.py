"""`stageline graph` (placeholder until its issue lands)."""

from __future__ import annotations


def graph() -> None:
    """Print the job graph of a workflow."""
    raise NotImplementedError
