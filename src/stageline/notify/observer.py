"""From engine events to notifications: the one mapping, and an Observer that sends.

`notify` sits below the engine, so it does not import `stageline.engine.events`;
it reads any event with a dotted `kind` and a `to_dict()` (every `EngineEvent`
has both; `Custom` events report their `name` as kind). An event whose kind is a
notification name (``approval.requested``, ``deployment.succeeded``, ...) maps
one to one; ``job.finished`` maps to ``job.failed`` when the job failed; the
rest are not notified.
"""

from __future__ import annotations

from typing import Any, Protocol

from stageline.notify.delivery import Level, Notification, Notifier
from stageline.notify.events import EVENTS

#: Fields that say which thing an event is about, most specific first.
_SUBJECT_KEYS = ("environment", "check", "name", "job_key", "workflow")
_NOT_IN_BODY = {"kind", "at", "jobs", "tail", "outputs", "log_dir"}


class EventLike(Protocol):
    @property
    def kind(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def notification_for(event: EventLike) -> Notification | None:
    """The notification for an engine event, or None when it is not one to send."""
    data = event.to_dict()
    if isinstance(data.get("data"), dict):  # a Custom event carries its fields in `data`
        data = {**data, **data.pop("data")}
    kind = str(data.get("kind", event.kind))
    if kind == "job.finished":
        if data.get("conclusion") != "failure":
            return None
        kind = "job.failed"
    if kind not in EVENTS:
        return None
    subject = next((str(data[k]) for k in _SUBJECT_KEYS if data.get(k) not in (None, "", kind)), "")
    title = f"[stageline] {kind}" + (f": {subject}" if subject else "")
    lines = [
        f"{key}: {value}"
        for key, value in data.items()
        if key not in _NOT_IN_BODY and value not in (None, "", {}, [], ())
    ]
    if kind == "job.failed" and data.get("tail"):
        lines += ["", *map(str, data["tail"])]
    return Notification(kind, title, "\n".join(lines), _level(kind, data), data)


def _level(kind: str, data: dict[str, Any]) -> Level:
    if kind == "run.finished":
        return "success" if data.get("conclusion") == "success" else "failure"
    if kind.endswith(("failed", "rejected", "timed_out")):
        return "failure"
    if kind.startswith("rollback.") or kind == "approval.reminded":
        return "warning"
    if kind.endswith(("succeeded", "granted")):
        return "success"
    return "info"


class NotifyObserver:
    """An engine Observer: maps each event and queues the notification (never blocks)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def handle(self, event: EventLike) -> None:
        notification = notification_for(event)
        if notification is not None:
            self.notifier.send(notification)


__all__ = ["EventLike", "NotifyObserver", "notification_for"]
