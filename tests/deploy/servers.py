"""Real local HTTP servers for monitor tests: a service whose health turns bad on cue,
and a Prometheus-compatible `/api/v1/query` serving canned answers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.http import QuietHandler, local_server


class Service:
    """`/health` answers 200 "ok" while `healthy`, else 503 "degraded"; `delay` slows it.
    `/api/v1/query?query=Q` answers `answers[Q]` (a Prometheus JSON body) or an error.
    `requests` counts requests per path."""

    def __init__(self) -> None:
        self.healthy = True
        self.delay = 0.0
        self.answers: dict[str, Any] = {}
        self.requests: dict[str, int] = {}
        self.url = ""
        self._lock = threading.Lock()

    def vector(self, query: str, *values: float, **labels: str) -> None:
        """Answer `query` with an instant vector of `values` (one sample each)."""
        now = time.time()
        self.answers[query] = {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    {"metric": {**labels, "i": str(i)}, "value": [now, repr(v)]}
                    for i, v in enumerate(values)
                ],
            },
        }

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests.get(path, 0)

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, str]:
        with self._lock:
            self.requests[path] = self.requests.get(path, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if path == "/health":
            return (200, "text/plain", "ok") if self.healthy else (503, "text/plain", "degraded")
        if path == "/api/v1/query":
            q = query.get("query", [""])[0]
            if q in self.answers:
                return 200, "application/json", json.dumps(self.answers[q])
            body = {"status": "error", "errorType": "bad_data", "error": f"unknown query {q}"}
            return 400, "application/json", json.dumps(body)
        return 404, "text/plain", "not found"


@contextmanager
def serve(service: Service) -> Iterator[Service]:
    """Run `service` on 127.0.0.1 (a free port) in a thread for the block."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            status, kind, body = service.handle(parsed.path, parse_qs(parsed.query))
            data = body.encode()
            # A client that gave up (a probe's timeout) closes first: not an error here.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

    with local_server(Handler) as port:
        service.url = f"http://127.0.0.1:{port}"
        yield service
