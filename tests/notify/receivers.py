"""Real local receivers for notification tests: a webhook (HTTP POST) and an SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.http import QuietHandler, free_port, local_server


@dataclass
class Webhook:
    """Records each POST as (path, JSON body); answers `fail_first` requests with 500."""

    url: str = ""
    fail_first: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.received if p == path]


@contextmanager
def webhook(fail_first: int = 0) -> Iterator[Webhook]:
    hook = Webhook(fail_first=fail_first)

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hook.lock:
                hook.attempts += 1
                failing = hook.attempts <= hook.fail_first
                if not failing:
                    hook.received.append((self.path, json.loads(body)))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with local_server(Handler) as port:
        hook.url = f"127.0.0.1:{port}"
        yield hook


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An aiosmtpd server on 127.0.0.1, plain SMTP (no TLS, no auth)."""
    box = Mailbox(free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
