"""SIGTERM stops the server even while a browser follows a run waiting for approval:
live streams end on their own (`live.LIFETIME_S`), so graceful shutdown is not held."""

from __future__ import annotations

import re
import signal
import threading
import time

import httpx
import pytest

from stageline.server.web.live import LIFETIME_S
from tests.server.web.serving import Server, World, log_in, wait_for

pytestmark = pytest.mark.slow


def test_sigterm_with_a_live_page_open(world: World, server: Server) -> None:
    world.install_hook(server.url)
    world.push("v1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        _follow_through_sigterm(client, server)


def _follow_through_sigterm(client: httpx.Client, server: Server) -> None:
    log_in(client, "bob")

    def waiting() -> bool:
        ids = re.findall(r'data-run="(\d+)"', client.get("/").text)
        return bool(ids) and 'id="approval-production"' in client.get(f"/runs/{ids[0]}").text

    wait_for(waiting, 90, "the run to wait for production")
    events: list[str] = []

    def follow() -> None:
        try:
            with client.stream("GET", "/runs/1/stream") as response:
                events.extend(response.iter_lines())
        except httpx.HTTPError:
            pass

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wait_for(lambda: any(line.startswith("event: panel") for line in events), 30, "the stream")
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(LIFETIME_S + 20)
    assert time.monotonic() - started < LIFETIME_S + 20
    assert server.process.returncode == 0, server.log.read_text()
    follower.join(5)
