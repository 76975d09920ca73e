"""Fault injection for the fault-injection suite (tests/faults).

`point(name)` kills this process with SIGKILL, as an unlucky user would, when
``STAGELINE_FAULT`` names the point (``record.write``, or ``record.write@3`` for its
third passage); ``job.finished@1:HUP`` sends SIGHUP instead, as a closed terminal does.
Off unless a test sets the variable: the check is one comparison.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "STAGELINE_FAULT"

_WANTED = os.environ.get(FAULT_ENV)
_passages: dict[str, int] = {}


def point(name: str) -> None:
    """Die here if ``STAGELINE_FAULT`` names this point (and its passage)."""
    if _WANTED is None:
        return
    spec, _, sent = _WANTED.partition(":")
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _passages[name] = _passages.get(name, 0) + 1
    if _passages[name] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{sent}") if sent else signal.SIGKILL)
