"""`stageline records` (placeholder until its issue lands)."""

from __future__ import annotations


def runs() -> None:
    """List runs."""
    raise NotImplementedError


def show() -> None:
    """Show one run."""
    raise NotImplementedError


def logs() -> None:
    """Print a run's logs."""
    raise NotImplementedError
