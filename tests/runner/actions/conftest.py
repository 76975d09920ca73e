"""Every test here is hermetic: the action cache is in tmp, and remote actions resolve
against a closed port on 127.0.0.1 unless a test starts the fixture action server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runner.actions.gitserver import ActionServer, build, free_port, serve


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("STAGELINE_ACTIONS_URL", f"git://127.0.0.1:{free_port()}")
    monkeypatch.delenv("STAGELINE_OFFLINE", raising=False)


@pytest.fixture(scope="session")
def _action_repositories(tmp_path_factory: pytest.TempPathFactory) -> ActionServer:
    return build(tmp_path_factory.mktemp("action-repositories"))


@pytest.fixture
def action_server(
    _action_repositories: ActionServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ActionServer]:
    """The fixture actions (`acme/greet`, `acme/wrap`, `acme/boxed`), a copy per test,
    served by git daemon; `server.shas` maps e.g. ``greet@v1`` to its commit."""
    with serve(_action_repositories.copy(tmp_path / "server")) as server:
        monkeypatch.setenv("STAGELINE_ACTIONS_URL", server.url)
        yield server
