"""Which channels (Apprise URLs) receive which events."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import Protocol

from stageline.notify.events import matches


class Route(Protocol):
    """A channel and the event globs it wants (`deploy.config.NotificationRoute` is one)."""

    url: str
    events: list[str]


def urls_for(event: str, routes: Iterable[Route]) -> list[str]:
    """The channels for `event`, each once, in configuration order."""
    urls: list[str] = []
    for route in routes:
        if route.url not in urls and any(matches(p, event) for p in route.events):
            urls.append(route.url)
    return urls


def import_apprise() -> ModuleType:
    """Apprise, imported lazily (it is slow to import). Its e-mail plugin, loaded on first
    use, imports the deprecated `imghdr` on Python 3.11-3.12; importing that here, with its
    DeprecationWarning silenced, keeps the warning out of every later plugin load."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if sys.version_info < (3, 13):
            import imghdr  # noqa: F401
        import apprise
    return apprise


def check_url(url: str) -> str | None:
    """Why Apprise cannot use `url`, or None when it can (no message is sent)."""
    apprise = import_apprise()

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url
        return f"Apprise does not understand the URL (scheme {scheme!r}, or its arguments)"
    return None


__all__ = ["Route", "check_url", "import_apprise", "urls_for"]
