"""`stageline validate` (placeholder until its issue lands)."""

from __future__ import annotations


def validate() -> None:
    """Validate workflow files."""
    raise NotImplementedError
