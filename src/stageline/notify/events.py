"""The notification events (issue 4, item 6) and glob matching over their names.

Names are dotted, ``<subject>.<what happened>``, so a route can take a whole
family with ``deployment.*`` or everything with ``*``. Patterns are shell globs
(`fnmatch`, case-sensitive); ``*`` also crosses dots.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

EVENTS: tuple[str, ...] = (
    "run.started",
    "run.finished",
    "job.failed",
    "approval.requested",
    "approval.reminded",
    "approval.granted",
    "approval.rejected",
    "approval.timed_out",
    "deployment.started",
    "deployment.succeeded",
    "deployment.failed",
    "monitor.check_failed",
    "rollback.started",
    "rollback.finished",
)


def matches(pattern: str, event: str) -> bool:
    return fnmatchcase(event, pattern)


def pattern_matches_any(pattern: str) -> bool:
    """Whether `pattern` selects at least one known event (a typo selects none)."""
    return any(matches(pattern, event) for event in EVENTS)


__all__ = ["EVENTS", "matches", "pattern_matches_any"]
