"""The HTTP front of the service: standard library only."""

from __future__ import annotations

import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webapp.app import Config, internal_error, respond


def make_server(
    config: Config, host: str = "127.0.0.1", access_log: bool = True
) -> ThreadingHTTPServer:
    """A server bound to `host` and `config.port` (0 picks a free port); the access log
    goes to stderr, which the deploy script sends to the service's log file."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "webapp"

        def _answer(self, with_body: bool) -> None:
            try:
                response = respond(self.command, self.path, config)
            except Exception:  # a bug: answer 500, log why, and keep serving
                traceback.print_exc()
                response = internal_error()
            self.send_response(response.status)
            headers = {"Content-Type": "text/plain; charset=utf-8", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if with_body:
                self.wfile.write(response.body)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_POST(self) -> None:
            self._answer(with_body=True)

        def log_message(self, format: str, *args: object) -> None:
            if access_log:
                sys.stderr.write(f"{self.address_string()} {format % args}\n")

    server = ThreadingHTTPServer((host, config.port), Handler)
    server.daemon_threads = True
    return server


def main() -> int:
    try:
        config = Config.from_env()
    except ValueError as err:
        print(f"webapp: {err}", file=sys.stderr)
        return 2
    server = make_server(config)
    print(f"webapp {config.release} listening on port {server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
