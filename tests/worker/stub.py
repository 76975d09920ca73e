"""A small real agent API for worker tests (the server's side is `server/api/agent.py`):
it records every call, serves claim replies it was given, and answers heartbeats with
the cancellations it was told. It can be stopped and started again on the same port,
as a restarting server would be."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.support.http import QuietHandler

_ROUTES = (
    ("heartbeat", re.compile(r"^/api/v1/agent/workers/(?P<id>[^/]+)/heartbeat$")),
    ("claim", re.compile(r"^/api/v1/agent/attempts/(?P<id>[^/]+)/claim$")),
    ("events", re.compile(r"^/api/v1/agent/attempts/(?P<id>[^/]+)/events$")),
    ("finish", re.compile(r"^/api/v1/agent/attempts/(?P<id>[^/]+)/finish$")),
)


@dataclass
class Call:
    route: str
    id: str
    body: dict[str, Any]
    token: str


@dataclass
class AgentStub:
    """The state the handler reads and writes; tests fill `claims` and `cancel`."""

    token: str = "worker-token"
    #: attempt → the claim reply's body; an attempt not here is answered 409.
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: attempt → reason: sent in every heartbeat reply while set.
    cancel: dict[str, str] = field(default_factory=dict)
    #: Attempts (events, finish) and workers (heartbeat) answered 409.
    stale: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        stub = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                status, reply = stub.answer(self.path, body, token)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def answer(self, path: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        if token != self.token:
            return 401, {"detail": "bad token"}
        found = [(route, m) for route, pattern in _ROUTES if (m := pattern.match(path))]
        if not found:
            return 404, {"detail": f"no route {path}"}
        route, match = found[0]
        with self.lock:
            self.calls.append(Call(route, match["id"], body, token))
            if route != "claim" and match["id"] in self.stale:
                return 409, {"detail": f"{match['id']} is refused"}
            if route == "heartbeat":
                return 200, {"cancel": dict(self.cancel), "stale": []}
            if route == "claim":
                claim = self.claims.pop(match["id"], None)
                return (200, claim) if claim else (409, {"detail": "not queued"})
            if route == "events":
                return 200, {"applied": True, "cancel": None}
            return 200, {}

    def of(self, route: str, attempt: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.route == route and attempt in (None, c.id)]

    def events(self, attempt: str) -> list[dict[str, Any]]:
        """The attempt's events in the order of their batches' `seq`, each batch once."""
        batches = {c.body["seq"]: c.body["events"] for c in self.of("events", attempt)}
        return [e for seq in sorted(batches) for e in batches[seq]]

    def wait_for(self, what: Callable[[], object], timeout: float = 60.0) -> Any:
        """`what()` once it is truthy; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting; calls: {[(c.route, c.id) for c in self.calls]}")
