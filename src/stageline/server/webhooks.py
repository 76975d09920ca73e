"""Webhook deliveries → `IncomingEvent`: GitHub, Gitea/Forgejo, GitLab and the
post-receive hook `stageline hook install` writes.

Pure functions over a request's headers and body, so each format is tested with
signed payloads and no server. A delivery is checked before it is believed:
`verify` compares the signature (HMAC-SHA256 of the raw body, or GitLab's shared
token) in constant time, `read_json` refuses what is not a JSON object, `parse`
turns the payload into the plain event `app.triggers` acts on. Each refusal is a
`Rejected` with the HTTP status it answers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from stageline.app.triggers import IncomingEvent

#: The sources the server takes, by the path of their route (`/hooks/<source>`).
SOURCES = ("github", "gitea", "gitlab", "git")
#: Signature headers, most specific first (Forgejo sends both of its own and Gitea's).
_SIGNATURES = {
    "github": ("x-hub-signature-256",),
    "gitea": ("x-forgejo-signature", "x-gitea-signature"),
    "git": ("x-stageline-signature-256",),
}
_EVENTS = {
    "github": ("x-github-event",),
    "gitea": ("x-forgejo-event", "x-gitea-event"),
    "gitlab": ("x-gitlab-event",),
}
_DELIVERIES = {
    "github": ("x-github-delivery",),
    "gitea": ("x-forgejo-delivery", "x-gitea-delivery"),
    "gitlab": ("x-gitlab-event-uuid", "x-gitlab-webhook-uuid"),
    "git": ("x-stageline-delivery",),
}
#: GitLab's hook names for the events the server handles, as GitHub names them.
_GITLAB_KINDS = {"Push Hook": "push", "Tag Push Hook": "push"}


class Rejected(Exception):
    """A delivery the server refuses: `status` 400 (unreadable) or 401 (not signed
    by the repository's secret)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def headers_of(raw: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case (HTTP header names are case-insensitive)."""
    return {key.lower(): value for key, value in raw.items()}


def read_json(body: bytes) -> dict[str, Any]:
    """The payload: a JSON object, else `Rejected(400)`. GitHub's and Gitea's form
    content type (`payload=<url-encoded JSON>`) is read too; the signature covers the
    body as sent either way."""
    if body.startswith(b"payload="):
        found = urllib.parse.parse_qs(body.decode("utf-8", errors="replace")).get("payload")
        body = found[0].encode() if found else b""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise Rejected(400, f"the body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise Rejected(400, "the body is not a JSON object")
    return data


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` under `secret` (what every source but GitLab sends)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(source: str, headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """Check the delivery was made with the repository's secret (`Rejected(401)` if not).

    GitHub and the post-receive hook send `sha256=<hex HMAC>`, Gitea and Forgejo the
    bare hex, GitLab the secret itself as a token; every comparison is constant-time.
    A repository without a secret takes no deliveries: anyone could forge them.
    """
    if not secret:
        raise Rejected(401, "the repository has no webhook secret, so no delivery can be trusted")
    if source == "gitlab":
        token = headers.get("x-gitlab-token")
        if token is None:
            raise Rejected(401, "missing X-Gitlab-Token")
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise Rejected(401, "X-Gitlab-Token does not match the repository's webhook secret")
        return
    name, given = _first(headers, _SIGNATURES[source])
    if given is None:
        raise Rejected(401, f"missing {_shown(_SIGNATURES[source][-1])}")
    if source != "gitea":
        scheme, _, given = given.partition("=")
        if scheme != "sha256" or not given:
            raise Rejected(401, f"{_shown(name)} must be sha256=<hex digest>")
    if not hmac.compare_digest(given.strip().lower().encode(), sign(secret, body).encode()):
        raise Rejected(401, f"{_shown(name)} does not match the body signed with the secret")


def event_name(source: str, headers: Mapping[str, str]) -> str:
    """The event a delivery announces, as GitHub names it (`push` for the hook)."""
    if source == "git":
        return "push"
    _, value = _first(headers, _EVENTS[source])
    if value is None:
        raise Rejected(400, f"missing {_shown(_EVENTS[source][-1])}")
    if source == "gitlab":
        return _GITLAB_KINDS.get(value, value)
    return value.strip()


def repository_urls(payload: Mapping[str, Any]) -> list[str]:
    """The URLs the payload gives for its repository (clone, web, ssh), any of which may
    be the one a repository was registered with."""
    found: list[str] = []
    for holder in ("repository", "project"):
        value = payload.get(holder)
        if not isinstance(value, Mapping):
            continue
        for key in ("clone_url", "html_url", "ssh_url", "git_url", "git_http_url"):
            found.append(_text(value.get(key)))
        for key in ("git_ssh_url", "web_url", "http_url", "url", "homepage"):
            found.append(_text(value.get(key)))
    return [url for url in dict.fromkeys(found) if url]


def parse(
    source: str, headers: Mapping[str, str], body: bytes, payload: Mapping[str, Any]
) -> IncomingEvent | None:
    """The event a verified delivery carries; None for a `ping` (a forge testing the
    hook). Events other than those handled come through with their name, so they are
    recorded with the reason nothing started."""
    kind = event_name(source, headers)
    if kind == "ping":
        return None
    delivery = _delivery(source, headers, body)
    if source == "gitlab":
        return _gitlab(kind, delivery, payload)
    if source == "git":
        return _hook(delivery, payload)
    return _forge(source, kind, delivery, payload)


def _forge(source: str, kind: str, delivery: str, payload: Mapping[str, Any]) -> IncomingEvent:
    """GitHub's formats (Gitea and Forgejo send the same shape for a push)."""
    urls = repository_urls(payload)
    actor = _login(payload.get("sender")) or _login(payload.get("pusher"))
    common: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "delivery_id": delivery,
        "repository_url": urls[0] if urls else None,
        "actor": actor or None,
        "payload": dict(payload),
    }
    if kind == "push":
        head = payload.get("head_commit")
        commits = payload.get("commits")
        return IncomingEvent(
            **common,
            ref=_text(payload.get("ref")),
            before=_text(payload.get("before")) or None,
            after=_text(payload.get("after")),
            author_email=_email(head) or _last_email(commits),
            changed_paths=_changed(commits),
        )
    if kind in ("pull_request", "pull_request_target"):
        pull = _mapping(payload.get("pull_request"))
        head = _mapping(pull.get("head"))
        number = payload.get("number", pull.get("number"))
        return IncomingEvent(
            **common,
            ref=f"refs/pull/{number}/merge",
            after=_text(head.get("sha")),
            author_email=None,
        )
    if kind == "release":
        tag = _text(_mapping(payload.get("release")).get("tag_name"))
        return IncomingEvent(**common, ref=f"refs/tags/{tag}" if tag else "")
    if kind == "workflow_dispatch":
        ref = _text(payload.get("ref"))
        inputs = _mapping(payload.get("inputs"))
        return IncomingEvent(
            **common,
            ref=ref if ref.startswith("refs/") or not ref else f"refs/heads/{ref}",
            inputs={str(k): _input_text(v) for k, v in inputs.items()},
            workflow=_text(payload.get("workflow")) or None,
        )
    return IncomingEvent(**common, ref=_text(payload.get("ref")))


def _gitlab(kind: str, delivery: str, payload: Mapping[str, Any]) -> IncomingEvent:
    """A GitLab push or tag push (`object_kind: push | tag_push`)."""
    urls = repository_urls(payload)
    after = _text(payload.get("checkout_sha")) or _text(payload.get("after"))
    commits = payload.get("commits")
    head = next((c for c in commits or [] if isinstance(c, Mapping) and c.get("id") == after), None)
    return IncomingEvent(
        source="gitlab",
        kind=kind,
        delivery_id=delivery,
        repository_url=urls[0] if urls else None,
        ref=_text(payload.get("ref")),
        before=_text(payload.get("before")) or None,
        after=after,
        actor=_text(payload.get("user_username")) or _text(payload.get("user_name")) or None,
        author_email=_email(head) or _text(payload.get("user_email")) or None,
        changed_paths=_changed(commits),
        payload=dict(payload),
    )


def _hook(delivery: str, payload: Mapping[str, Any]) -> IncomingEvent:
    """The post-receive hook's report of one pushed ref: `{ref, before, after, pusher}`
    (the server reads the author and the changed paths from its mirror)."""
    ref, after = _text(payload.get("ref")), _text(payload.get("after"))
    if not ref.startswith("refs/") or not after:
        raise Rejected(400, "a hook delivery needs `ref` (refs/...) and `after` (a sha)")
    return IncomingEvent(
        source="git",
        kind="push",
        delivery_id=delivery,
        ref=ref,
        before=_text(payload.get("before")) or None,
        after=after,
        actor=_text(payload.get("pusher")) or None,
        payload=dict(payload),
    )


def _delivery(source: str, headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's id; a source that sends none is identified by its body's hash, so
    the same delivery sent twice is still seen twice."""
    _, value = _first(headers, _DELIVERIES[source])
    return value.strip() if value else "sha256:" + hashlib.sha256(body).hexdigest()


def _changed(commits: object) -> list[str] | None:
    """The files the pushed commits added, modified or removed (None when unknown)."""
    if not isinstance(commits, list) or not commits:
        return None
    paths: dict[str, None] = {}
    for commit in commits:
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                listed = commit.get(key)
                if isinstance(listed, list):
                    paths.update((str(p), None) for p in listed)
    return list(paths)


def _email(commit: object) -> str | None:
    author = _mapping(commit).get("author") if isinstance(commit, Mapping) else None
    return _text(_mapping(author).get("email")) or None


def _last_email(commits: object) -> str | None:
    if isinstance(commits, list) and commits:
        return _email(commits[-1])
    return None


def _login(user: object) -> str:
    found = _mapping(user)
    return _text(found.get("login")) or _text(found.get("username")) or _text(found.get("name"))


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str | None]:
    for name in names:
        if name in headers:
            return name, headers[name]
    return names[-1], None


def _shown(header: str) -> str:
    """`x-hub-signature-256` as the docs spell it: `X-Hub-Signature-256`."""
    return "-".join(part.capitalize() for part in header.split("-"))


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _input_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
