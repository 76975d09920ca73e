"""`demo --server`'s set-up, without serving: the repository runs the article's workflow
verbatim with the glue it calls, and the server's store holds the repository and the
four users, each able to log in with the password printed for them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stageline.app import accounts
from stageline.app.serverdata import open_server
from stageline.cli.demo import find_example, git
from stageline.cli.demo_server import REPO, USERS, make_repository, provision

ARTICLE = Path(__file__).parents[1] / "e2e" / "fixtures" / "multi-stage.yml"


@pytest.fixture(autouse=True)
def temp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)


def test_the_repository_runs_the_article_workflow_verbatim() -> None:
    setup = make_repository(find_example())
    repo = setup.repo
    assert (repo / ".github/workflows/multi-stage.yml").read_bytes() == ARTICLE.read_bytes()
    assert sorted(p.name for p in (repo / ".github/workflows").iterdir()) == ["multi-stage.yml"]
    scripts = json.loads((repo / "package.json").read_text())["scripts"]
    assert "tests/unit" in scripts["build"] and "scripts/build.sh" in scripts["build"]
    assert "tests/integration" in scripts["test"]
    for env_name in ("staging", "production"):
        script = repo / f"deploy-{env_name}.sh"
        assert os.access(script, os.X_OK)
        text = script.read_text()
        assert f"DEPLOY_PORT={setup.ports[env_name]}" in text
        assert str(setup.deploy_root) in text
    assert git(repo, "status", "--porcelain") == ""  # all of it committed, in one commit
    assert git(repo, "rev-list", "--count", "HEAD") == "1"


def test_provision_registers_the_bare_repository_and_four_users(tmp_path: Path) -> None:
    setup = make_repository(find_example())
    made = provision(setup, tmp_path / "data")

    assert (made.bare / "HEAD").is_file()
    assert git(setup.repo, "remote", "get-url", "origin") == str(made.bare)
    with open_server(made.data_dir) as server:
        assert server.store.server.get_repo(REPO) is not None
        for name, (role, emails) in USERS.items():
            user = accounts.authenticate_password(server, name, made.passwords[name])
            assert user is not None, name
            assert accounts.role_of(user) is accounts.Role.parse(role)
            assert list(user.emails) == list(emails)
        author = server.store.server.user_for_email(git(setup.repo, "log", "-1", "--format=%ae"))
        assert author is not None and author.name == "dev"
        token_user = accounts.authenticate_token(server, made.token)
        assert token_user is not None and token_user.name == "alice"
    assert len(set(made.passwords.values())) == len(USERS)
