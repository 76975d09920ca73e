"""A served app per test: `stageline serve` is in tests/server/test_app.py; here the app
runs on uvicorn in this process's thread, on a free port, so tests can also reach its
data dir directly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.app.serverdata import ServerData, open_server
from stageline.server.app import ServerSettings, create_app
from tests.support.http import free_port

PASSWORD = "correct horse battery staple"


@dataclass
class Live:
    url: str
    data_dir: Path
    #: Token of a user of each role, by role value.
    tokens: dict[str, str]

    def client(self, role: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def _users(server: ServerData) -> dict[str, str]:
    tokens = {}
    for role in Role:
        user = accounts.add_user(
            server, role.value, role, [f"{role.value}@example.com"], PASSWORD, by="test"
        )
        tokens[role.value], _ = accounts.create_token(server, user, "test", "1d")
    return tokens


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` on uvicorn in a thread, on a free port of 127.0.0.1; its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """The app on uvicorn (a real socket on 127.0.0.1), with one user per role."""
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    with open_server(data_dir) as server:
        tokens = _users(server)
    settings = ServerSettings(data_dir=data_dir, body_limit=1024 * 1024)
    with serving(create_app(settings)) as url:
        yield Live(url, data_dir, tokens)
