"""Notifications: engine events → Apprise channels, in the background (see delivery)."""

from stageline.notify.delivery import Notification, Notifier, RetryPolicy
from stageline.notify.events import EVENTS, matches
from stageline.notify.observer import NotifyObserver, notification_for
from stageline.notify.routing import check_url, urls_for

__all__ = [
    "EVENTS",
    "Notification",
    "Notifier",
    "NotifyObserver",
    "RetryPolicy",
    "check_url",
    "matches",
    "notification_for",
    "urls_for",
]
