"""`stageline demo` (placeholder until its issue lands)."""

from __future__ import annotations


def demo() -> None:
    """Run the end-to-end demo pipeline."""
    raise NotImplementedError
