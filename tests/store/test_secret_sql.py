"""The secrets store on SQLite and PostgreSQL: encrypted at rest, names only when listed,
the key in the environment or a 0600 file beside the store, never in the database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from stageline.errors import ConfigError, StoreError
from stageline.store import Store, open_store
from stageline.store.secret_sql import KEY_ENV, KEY_FILE

PLAIN = "hunter2-very-secret-value"


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def _stored_values(store: Store) -> list[str]:
    """What the table holds in the `value` column, read straight from the database."""
    rows, _ = store.secrets._execute("SELECT value FROM secrets", {})
    return [str(row[0]) for row in rows]


def test_set_list_read_and_remove(store: Store) -> None:
    secrets = store.secrets
    assert secrets.put("/repo", "deploy_token", PLAIN, "production") is True
    assert secrets.put("/repo", "DEPLOY_TOKEN", PLAIN + "2", "production") is False  # replaced
    secrets.put("/repo", "PLAIN_ONE", "repo-level")
    secrets.put("/other", "PLAIN_ONE", "elsewhere")

    listed = secrets.entries("/repo")
    assert [(e.environment, e.name) for e in listed] == [
        ("", "PLAIN_ONE"),
        ("production", "DEPLOY_TOKEN"),
    ]
    assert all(e.created_at.tzinfo is not None for e in listed)
    assert secrets.values("/repo") == {"PLAIN_ONE": "repo-level"}
    assert secrets.values("/repo", "production") == {"DEPLOY_TOKEN": PLAIN + "2"}
    assert secrets.values("/repo", "staging") == {}

    assert secrets.remove("/repo", "deploy_token", "production") is True
    assert secrets.remove("/repo", "DEPLOY_TOKEN", "production") is False
    assert secrets.values("/repo", "production") == {}
    assert secrets.values("/other") == {"PLAIN_ONE": "elsewhere"}


def test_values_are_fernet_tokens_in_the_database(store: Store) -> None:
    store.secrets.put("/repo", "TOKEN", PLAIN, "production")
    (stored,) = _stored_values(store)
    assert PLAIN not in stored
    key = (store.home / KEY_FILE).read_bytes().strip()
    assert Fernet(key).decrypt(stored.encode()).decode() == PLAIN


def test_the_sqlite_file_never_holds_the_plaintext(tmp_path: Path) -> None:
    with open_store(tmp_path / "home") as store:
        store.secrets.put("/repo", "TOKEN", PLAIN)
        store.secrets.put("/repo", "OTHER", PLAIN, "production")
        assert store.secrets.values("/repo") == {"TOKEN": PLAIN}
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert any(p.name == "stageline.db" for p in files)
    for path in files:
        assert PLAIN.encode() not in path.read_bytes(), path


def test_the_key_file_is_made_0600_on_first_use_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_store(home) as store:
        assert not (home / KEY_FILE).exists()  # opening alone makes no key
        store.secrets.put("/repo", "TOKEN", PLAIN)
    key_file = home / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    with open_store(home) as store:
        assert store.secrets.values("/repo") == {"TOKEN": PLAIN}
    assert key_file.read_text() == first
    assert not [p for p in home.iterdir() if p.name.startswith(".secret-key-")]


def test_the_environment_key_wins_and_a_wrong_key_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with open_store(home) as store:
        store.secrets.put("/repo", "TOKEN", PLAIN)
        assert store.secrets.key_location == f"${KEY_ENV}"
    assert not (home / KEY_FILE).exists()
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with open_store(home) as store, pytest.raises(StoreError, match="cannot decrypt secret TOKEN"):
        store.secrets.values("/repo")
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with open_store(home) as store, pytest.raises(StoreError, match="not a Fernet key"):
        store.secrets.put("/repo", "OTHER", PLAIN)


@pytest.mark.parametrize("name", ["1ABC", "A-B", "", "GITHUB_TOKEN", "with space"])
def test_invalid_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ConfigError, match="invalid secret name"):
        store.secrets.put("/repo", name, PLAIN)


def test_a_registered_repository_is_its_mirrors_scope(store: Store) -> None:
    store.server.add_repo("shop", "file:///src/shop", "/data/mirrors/shop.git", None)
    assert store.secrets.scope_of("/data/mirrors/shop.git") == "shop"
    assert store.secrets.scope_of("/home/me/shop") == "/home/me/shop"
