"""Events in, runs out: what the server does with a push, a pull request, a release,
a dispatch or a cron tick.

Every event is recorded before anything else (the replay guard: a delivery seen
before starts nothing), then its commit is fetched into the repository's mirror and
the runs are planned from a checkout of it exactly as `stageline run` plans them
(`app.runs.prepare` with the event's name, payload and ref), so branch, path and
type filters decide the same way. The trigger ends `started` (with its runs),
`nothing` (with the reason) or `error` (with the positioned message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A sha of forty zeros: the `before` of a new ref, the `after` of a deleted one.
ZERO_SHA = "0" * 40


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One event as the server received it, whatever its source spoke.

    `kind` is GitHub's event name (`push`, `pull_request`, `release`,
    `workflow_dispatch`, `schedule`). `after` is the commit the runs are planned at
    ("" when the payload names a ref only: it is resolved after the fetch).
    `changed_paths` is None when the source did not say (then the mirror's diff
    `before..after` gives them).
    """

    source: str
    kind: str
    delivery_id: str
    repository_url: str | None = None
    ref: str = ""
    before: str | None = None
    after: str = ""
    actor: str | None = None
    author_email: str | None = None
    changed_paths: list[str] | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
