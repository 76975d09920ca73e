"""Delivering notifications through Apprise, in the background, in order, never failing.

A `Notifier` owns one worker thread per channel (Apprise URL). `send` only
enqueues, so the engine's loop never waits on a slow webhook or SMTP server;
each channel delivers its messages strictly in the order they were sent and
retries a failed delivery with exponential backoff before moving on. A message
that still fails is logged (``stageline.notify``) and dropped: a notification
never fails a run. `close` drains what is queued (bounded by a timeout).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from stageline.notify.routing import Route, import_apprise, urls_for

log = logging.getLogger("stageline.notify")

Level = Literal["info", "success", "warning", "failure"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: `event` is a name from `notify.events.EVENTS`."""

    event: str
    title: str
    body: str
    level: Level = "info"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt `attempts` times, waiting `backoff` seconds, doubled each time (capped)."""

    attempts: int = 4
    backoff: float = 1.0
    factor: float = 2.0
    max_backoff: float = 30.0

    def delays(self) -> list[float]:
        """The waits between attempts (one fewer than attempts)."""
        return [
            min(self.backoff * self.factor**n, self.max_backoff) for n in range(self.attempts - 1)
        ]


#: Delivers one notification to one URL; True when the channel accepted it.
Deliver = Callable[[str, Notification], bool]


def apprise_deliver(url: str, notification: Notification) -> bool:
    """Send through Apprise (which reports failure by returning False, not raising)."""
    apprise = import_apprise()

    channel = apprise.Apprise()
    if not channel.add(url):
        log.error("notification URL not understood by Apprise: %s", _redact(url))
        return False
    kind = {
        "info": apprise.NotifyType.INFO,
        "success": apprise.NotifyType.SUCCESS,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }[notification.level]
    return bool(channel.notify(title=notification.title, body=notification.body, notify_type=kind))


class _Channel:
    """One URL's queue and worker thread."""

    def __init__(
        self, url: str, deliver: Deliver, retry: RetryPolicy, stopping: threading.Event
    ) -> None:
        self.url = url
        self.deliver = deliver
        self.retry = retry
        self.stopping = stopping
        self.queue: queue.Queue[Notification | None] = queue.Queue()
        self.thread = threading.Thread(
            target=self._work, name=f"stageline-notify {_redact(url)}", daemon=True
        )
        self.thread.start()

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                self._deliver_with_retries(item)
            finally:
                self.queue.task_done()

    def _deliver_with_retries(self, notification: Notification) -> None:
        delays = [*self.retry.delays(), None]
        for attempt, delay in enumerate(delays, start=1):
            try:
                if self.deliver(self.url, notification):
                    return
                problem = "the channel refused it"
            except Exception as err:  # a channel must never break the worker
                problem = f"{type(err).__name__}: {err}"
            if delay is None:
                log.error(
                    "notification %s to %s failed after %d attempts (%s); dropped",
                    notification.event,
                    _redact(self.url),
                    attempt,
                    problem,
                )
                return
            log.warning(
                "notification %s to %s failed (attempt %d: %s); retrying in %.1fs",
                notification.event,
                _redact(self.url),
                attempt,
                problem,
                delay,
            )
            # While closing, stop waiting between retries but still try every attempt.
            self.stopping.wait(delay)


class Notifier:
    """Routes notifications to channels and delivers them in the background."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        deliver: Deliver = apprise_deliver,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.routes = list(routes)
        self.deliver = deliver
        self.retry = retry or RetryPolicy()
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._closed = False

    def send(self, notification: Notification) -> None:
        """Queue `notification` for every channel that wants its event; never blocks."""
        with self._lock:
            if self._closed:
                log.warning("notifier closed; %s not sent", notification.event)
                return
            for url in urls_for(notification.event, self.routes):
                channel = self._channels.get(url)
                if channel is None:
                    channel = _Channel(url, self.deliver, self.retry, self._stopping)
                    self._channels[url] = channel
                channel.queue.put(notification)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was delivered or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        for channel in list(self._channels.values()):
            while channel.queue.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Deliver what is queued (retry waits cut short), then stop; False if it timed out."""
        with self._lock:
            self._closed = True
            channels = list(self._channels.values())
        self._stopping.set()
        for channel in channels:
            channel.queue.put(None)
        deadline = time.monotonic() + timeout
        for channel in channels:
            channel.thread.join(max(0.0, deadline - time.monotonic()))
        return not any(channel.thread.is_alive() for channel in channels)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _redact(url: str) -> str:
    """The URL without credentials or query (tokens live there), for logs."""
    scheme, _, rest = url.partition("://")
    host = rest.split("?", 1)[0].rsplit("@", 1)[-1].split("/", 1)[0]
    return f"{scheme}://{host}" if rest else url


__all__ = ["Deliver", "Level", "Notification", "Notifier", "RetryPolicy", "apprise_deliver"]
