"""Users, roles, argon2 passwords, hashed tokens and the audit log."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.app.serverdata import ServerData, open_server
from stageline.errors import ConfigError, StoreError


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerData]:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with open_server(tmp_path / "data") as opened:
        yield opened


def test_roles_are_ordered_and_parsed() -> None:
    assert Role.VIEWER < Role.DEVELOPER < Role.REVIEWER < Role.ADMIN
    assert Role.ADMIN >= Role.REVIEWER and not Role.VIEWER >= Role.DEVELOPER
    assert sorted([Role.ADMIN, Role.VIEWER, Role.REVIEWER]) == [
        Role.VIEWER,
        Role.REVIEWER,
        Role.ADMIN,
    ]
    assert Role.parse(" Reviewer ") is Role.REVIEWER
    with pytest.raises(ConfigError, match="unknown role 'boss'") as caught:
        Role.parse("boss")
    assert caught.value.hint == "one of worker, viewer, developer, reviewer, admin"
    assert Role.WORKER < Role.VIEWER  # a worker account sees no page (ADR 0012)


def test_passwords_are_argon2_hashes_and_failed_logins_are_audited(server: ServerData) -> None:
    user = accounts.add_user(server, "alice", Role.ADMIN, ["alice@example.com"], "s3cret pw")
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert "s3cret pw" not in user.password_hash
    assert accounts.authenticate_password(server, "alice", "s3cret pw") == user
    assert accounts.authenticate_password(server, "alice", "wrong") is None
    assert accounts.authenticate_password(server, "nobody", "s3cret pw") is None
    token_only = accounts.add_user(server, "bot", Role.DEVELOPER)
    assert accounts.authenticate_password(server, "bot", "") is None
    assert token_only.password_hash is None
    log = accounts.audit_log(server)
    failed = [(a.actor, a.action) for a in log if a.action == "login.failed"]
    assert failed == [
        ("bot", "login.failed"),
        ("nobody", "login.failed"),
        ("alice", "login.failed"),
    ]
    added = [a for a in log if a.action == "user.add" and a.target == "alice"]
    assert added[0].detail == {"role": "admin", "emails": ["alice@example.com"]}


def test_bad_user_names_emails_and_duplicates_are_refused(server: ServerData) -> None:
    with pytest.raises(ConfigError, match="invalid user name"):
        accounts.add_user(server, "no spaces", Role.VIEWER)
    with pytest.raises(ConfigError, match="invalid email"):
        accounts.add_user(server, "carol", Role.VIEWER, ["carol"])
    with pytest.raises(ConfigError, match="empty password"):
        accounts.add_user(server, "carol", Role.VIEWER, [], "")
    accounts.add_user(server, "carol", Role.VIEWER)
    with pytest.raises(StoreError, match="already exists"):
        accounts.add_user(server, "carol", Role.ADMIN)


def test_tokens_are_shown_once_stored_hashed_expire_and_are_revocable(
    server: ServerData,
) -> None:
    alice = accounts.add_user(server, "alice", Role.DEVELOPER)
    admin = accounts.add_user(server, "root", Role.ADMIN)
    bob = accounts.add_user(server, "bob", Role.VIEWER)
    plaintext, row = accounts.create_token(server, alice, "laptop", "30d")
    assert plaintext.startswith("slt_") and len(plaintext) > 40
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row.expires_at is not None
    assert abs(row.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    assert accounts.authenticate_token(server, plaintext) == alice
    assert accounts.authenticate_token(server, plaintext + "x") is None
    assert accounts.authenticate_token(server, "not-a-token") is None

    short, _ = accounts.create_token(server, alice, "short", "1s")
    assert accounts.authenticate_token(server, short) == alice
    time.sleep(1.2)
    assert accounts.authenticate_token(server, short) is None  # expired

    _, forever = accounts.create_token(server, alice, "ci", "never")
    assert forever.expires_at is None
    with pytest.raises(accounts.NoSuchToken):
        accounts.revoke_token(server, row.id, bob)  # not bob's
    accounts.revoke_token(server, row.id, alice)
    assert accounts.authenticate_token(server, plaintext) is None
    with pytest.raises(accounts.NoSuchToken):
        accounts.revoke_token(server, row.id, alice)  # once
    accounts.revoke_token(server, forever.id, admin)  # an admin may revoke anyone's
    actions = [(a.actor, a.action) for a in accounts.audit_log(server)]
    assert ("root", "token.revoke") in actions and ("alice", "token.revoke") in actions
    assert actions.count(("alice", "token.create")) == 3


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 12 * 3600), ("1d12h", 36 * 3600), ("90m", 5400)],
)
def test_expiry_is_read_like_durations_with_days(text: str, seconds: int) -> None:
    at = accounts.parse_expiry(text, now=1000.0)
    assert at == datetime.fromtimestamp(1000.0 + seconds, UTC)


@pytest.mark.parametrize("text", ["30", "soon", "0d", "-1d"])
def test_bad_expiry_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        accounts.parse_expiry(text)
