"""Integration tests: the real HTTP server on a free port of 127.0.0.1."""

import contextlib
import io
import json
import threading
import unittest
import urllib.error
import urllib.request
from unittest import mock

from webapp.app import Config
from webapp.server import make_server


class ServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = make_server(Config(port=0, release="it-release"), access_log=False)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as reply:
                return reply.status, reply.headers["Content-Type"], reply.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers["Content-Type"], err.read().decode()

    def test_health(self) -> None:
        status, content_type, body = self.get("/health")
        self.assertEqual((status, content_type), (200, "application/json"))
        self.assertEqual(json.loads(body)["status"], "ok")
        self.assertEqual(json.loads(body)["release"], "it-release")

    def test_greet(self) -> None:
        status, _, body = self.get("/api/greet?name=CI")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"message": "Hello, CI!"})

    def test_not_found(self) -> None:
        status, _, body = self.get("/missing")
        self.assertEqual(status, 404)
        self.assertIn("/missing", json.loads(body)["error"])

    def test_head_has_no_body(self) -> None:
        request = urllib.request.Request(self.base + "/health", method="HEAD")
        with urllib.request.urlopen(request, timeout=5) as reply:
            self.assertEqual(reply.status, 200)
            self.assertGreater(int(reply.headers["Content-Length"]), 0)
            self.assertEqual(reply.read(), b"")

    def test_a_failing_handler_answers_500_logs_and_keeps_serving(self) -> None:
        log = io.StringIO()
        failure = RuntimeError("handler bug")
        with (
            contextlib.redirect_stderr(log),
            mock.patch("webapp.server.respond", side_effect=failure),
        ):
            status, content_type, body = self.get("/health")
        self.assertEqual((status, content_type), (500, "application/json"))
        self.assertEqual(json.loads(body), {"error": "internal server error"})
        self.assertIn("RuntimeError: handler bug", log.getvalue())
        self.assertEqual(self.get("/health")[0], 200)

    def test_concurrent_requests(self) -> None:
        results: list[int] = []

        def fetch() -> None:
            results.append(self.get("/health")[0])

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        self.assertEqual(results, [200] * 8)


if __name__ == "__main__":
    unittest.main()
