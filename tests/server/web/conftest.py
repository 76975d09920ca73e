"""One real server per module: starting one costs seconds, and each test logs in anew."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.web.serving import Server, World, make_world, serve


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    with serve(world.data_dir, world.data_dir.parent / "server.log") as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a browser test saves its screenshots (the test's own tmp dir)."""
    return tmp_path
