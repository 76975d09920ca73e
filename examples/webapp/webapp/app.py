"""Request handling, kept apart from the socket so unit tests need no server.

`respond` maps a method and path to a `Response`; `server.py` only moves bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from webapp import __version__


@dataclass(frozen=True)
class Config:
    """What the service reads from its environment."""

    port: int = 8080
    release: str = "dev"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        raw_port = env.get("PORT", "8080")
        if not raw_port.isdigit() or not 0 <= int(raw_port) <= 65535:
            raise ValueError(f"PORT must be a number from 0 to 65535, not {raw_port!r}")
        return cls(port=int(raw_port), release=env.get("RELEASE", "dev") or "dev")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, data: object) -> Response:
    body = (json.dumps(data, sort_keys=True) + "\n").encode()
    return Response(status, body, {"Content-Type": "application/json"})


def internal_error() -> Response:
    """The answer when handling a request raised: the details go to the log, not the client."""
    return _json(500, {"error": "internal server error"})


def greeting(name: str) -> str:
    """The greeting for `name`; blank names are greeted as the world."""
    cleaned = " ".join(name.split())[:64]
    return f"Hello, {cleaned or 'world'}!"


def respond(method: str, target: str, config: Config) -> Response:
    """The response to one request."""
    url = urlsplit(target)
    if method not in ("GET", "HEAD"):
        return _json(405, {"error": f"method {method} not allowed"})
    if url.path == "/health":
        return _json(200, {"status": "ok", "version": __version__, "release": config.release})
    if url.path == "/":
        return Response(200, b"webapp: try /health or /api/greet?name=you\n", {})
    if url.path == "/api/greet":
        name = parse_qs(url.query).get("name", [""])[0]
        return _json(200, {"message": greeting(name)})
    return _json(404, {"error": f"no route for {url.path}"})
