"""Webhook deliveries as each source sends them, signed with a real HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from typing import Any

import pytest

from stageline.server.webhooks import (
    Rejected,
    headers_of,
    parse,
    read_json,
    repository_urls,
    verify,
)

SECRET = "s3cret-of-the-repo"
SHA_A = "a" * 40
SHA_B = "b" * 40


def _hmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _github_push() -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": SHA_A,
        "after": SHA_B,
        "repository": {
            "full_name": "acme/webapp",
            "clone_url": "https://git.example/acme/webapp.git",
            "html_url": "https://git.example/acme/webapp",
        },
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada"},
        "commits": [
            {"id": SHA_A, "added": ["src/a.py"], "modified": [], "removed": ["old.txt"]},
            {
                "id": SHA_B,
                "added": [],
                "modified": ["src/a.py", "README.md"],
                "removed": [],
                "author": {"email": "ada@example.com"},
            },
        ],
        "head_commit": {"id": SHA_B, "author": {"email": "ada@example.com", "name": "Ada"}},
    }


def _github_headers(body: bytes, event: str = "push") -> dict[str, str]:
    return headers_of(
        {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-Hub-Signature-256": "sha256=" + _hmac(body),
        }
    )


def test_a_signed_github_push_becomes_an_event_with_its_changed_paths() -> None:
    payload = _github_push()
    body = json.dumps(payload).encode()
    headers = _github_headers(body)
    verify("github", headers, body, SECRET)
    event = parse("github", headers, body, read_json(body))
    assert event is not None
    assert (event.source, event.kind) == ("github", "push")
    assert event.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert (event.ref, event.before, event.after) == ("refs/heads/main", SHA_A, SHA_B)
    assert event.actor == "ada"
    assert event.author_email == "ada@example.com"
    assert event.changed_paths == ["src/a.py", "old.txt", "README.md"]
    assert event.repository_url == "https://git.example/acme/webapp.git"
    assert event.payload == payload


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "missing X-Hub-Signature-256"),
        ("sha256=" + "0" * 64, "does not match"),
        ("sha1=abcdef", "must be sha256="),
        ("sha256=" + _hmac(b"{}", "another-secret"), "does not match"),
    ],
)
def test_a_github_delivery_not_signed_with_the_secret_is_refused(
    header: str | None, detail: str
) -> None:
    body = json.dumps(_github_push()).encode()
    headers = _github_headers(body)
    del headers["x-hub-signature-256"]
    if header is not None:
        headers["x-hub-signature-256"] = header
    with pytest.raises(Rejected) as caught:
        verify("github", headers, body, SECRET)
    assert caught.value.status == 401
    assert detail in caught.value.detail


def test_a_body_changed_after_signing_is_refused() -> None:
    body = json.dumps(_github_push()).encode()
    headers = _github_headers(body)
    tampered = body.replace(b"refs/heads/main", b"refs/heads/prod")
    with pytest.raises(Rejected, match="does not match"):
        verify("github", headers, tampered, SECRET)


def test_a_repository_without_a_secret_takes_no_delivery() -> None:
    body = b"{}"
    with pytest.raises(Rejected) as caught:
        verify("github", _github_headers(body), body, None)
    assert caught.value.status == 401


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_a_400(body: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        read_json(body)
    assert caught.value.status == 400


def test_a_ping_is_no_event() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    assert parse("github", _github_headers(body, "ping"), body, read_json(body)) is None


def test_a_pull_request_is_planned_at_its_head_on_its_merge_ref() -> None:
    payload = {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"ref": "feature", "sha": SHA_B},
            "base": {"ref": "main", "sha": SHA_A},
        },
        "repository": {"clone_url": "https://git.example/acme/webapp.git"},
        "sender": {"login": "grace"},
    }
    body = json.dumps(payload).encode()
    event = parse("github", _github_headers(body, "pull_request"), body, payload)
    assert event is not None
    assert (event.kind, event.ref, event.after, event.actor) == (
        "pull_request",
        "refs/pull/7/merge",
        SHA_B,
        "grace",
    )


def test_a_release_names_its_tag_and_a_dispatch_its_inputs() -> None:
    release = {"action": "published", "release": {"tag_name": "v1.2.0"}, "sender": {"login": "x"}}
    body = json.dumps(release).encode()
    event = parse("github", _github_headers(body, "release"), body, release)
    assert event is not None
    assert (event.kind, event.ref, event.after) == ("release", "refs/tags/v1.2.0", "")
    dispatch = {"ref": "main", "inputs": {"debug": True, "level": 3}, "workflow": "ci.yml"}
    body = json.dumps(dispatch).encode()
    event = parse("github", _github_headers(body, "workflow_dispatch"), body, dispatch)
    assert event is not None
    assert event.ref == "refs/heads/main"
    assert event.inputs == {"debug": "true", "level": "3"}
    assert event.workflow == "ci.yml"


def test_a_gitea_push_is_signed_with_a_bare_hex_digest() -> None:
    payload = _github_push()
    del payload["head_commit"]
    payload["pusher"] = {"login": "ada", "username": "ada"}
    body = json.dumps(payload).encode()
    headers = headers_of(
        {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-1", "X-Gitea-Signature": _hmac(body)}
    )
    verify("gitea", headers, body, SECRET)
    event = parse("gitea", headers, body, payload)
    assert event is not None
    assert (event.source, event.kind, event.delivery_id) == ("gitea", "push", "d-1")
    assert event.author_email == "ada@example.com"  # the last commit's author
    headers["x-gitea-signature"] = "sha256=" + _hmac(body)
    with pytest.raises(Rejected):
        verify("gitea", headers, body, SECRET)


def test_a_forgejo_push_is_checked_by_its_own_header_first() -> None:
    body = json.dumps(_github_push()).encode()
    headers = headers_of(
        {
            "X-Forgejo-Event": "push",
            "X-Forgejo-Signature": _hmac(body),
            "X-Gitea-Signature": "forged",
        }
    )
    verify("gitea", headers, body, SECRET)


def test_a_gitlab_push_checks_its_token_and_reads_its_own_shape() -> None:
    payload = {
        "object_kind": "push",
        "ref": "refs/heads/dev",
        "before": SHA_A,
        "after": SHA_B,
        "checkout_sha": SHA_B,
        "user_username": "linus",
        "user_email": "linus@example.com",
        "project": {
            "git_http_url": "https://gitlab.example/acme/webapp.git",
            "git_ssh_url": "git@gitlab.example:acme/webapp.git",
        },
        "commits": [
            {"id": SHA_B, "author": {"email": "grace@example.com"}, "added": ["x.py"]},
        ],
    }
    body = json.dumps(payload).encode()
    headers = headers_of({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET})
    verify("gitlab", headers, body, SECRET)
    event = parse("gitlab", headers, body, payload)
    assert event is not None
    assert (event.kind, event.ref, event.after, event.actor) == (
        "push",
        "refs/heads/dev",
        SHA_B,
        "linus",
    )
    assert event.author_email == "grace@example.com"
    assert event.changed_paths == ["x.py"]
    assert event.delivery_id.startswith("sha256:")  # no uuid sent: the body identifies it
    assert repository_urls(payload) == [
        "https://gitlab.example/acme/webapp.git",
        "git@gitlab.example:acme/webapp.git",
    ]
    for token in (None, "wrong"):
        bad = {k: v for k, v in headers.items() if k != "x-gitlab-token"}
        if token:
            bad["x-gitlab-token"] = token
        with pytest.raises(Rejected) as caught:
            verify("gitlab", bad, body, SECRET)
        assert caught.value.status == 401


def test_the_post_receive_hook_reports_one_ref() -> None:
    payload = {"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B, "pusher": "ada"}
    body = json.dumps(payload).encode()
    headers = headers_of(
        {"X-Stageline-Signature-256": "sha256=" + _hmac(body), "X-Stageline-Delivery": "u-1"}
    )
    verify("git", headers, body, SECRET)
    event = parse("git", headers, body, payload)
    assert event is not None
    assert (event.source, event.kind, event.delivery_id, event.actor) == (
        "git",
        "push",
        "u-1",
        "ada",
    )
    assert event.changed_paths is None  # the server reads them from its mirror
    with pytest.raises(Rejected) as caught:
        parse("git", headers, b"{}", {"ref": "main"})
    assert caught.value.status == 400


def test_a_form_encoded_delivery_is_read_and_signed_as_sent() -> None:
    payload = _github_push()
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = _github_headers(body)
    verify("github", headers, body, SECRET)
    assert read_json(body) == payload
