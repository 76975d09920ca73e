"""Webhooks against a real `stageline serve` on a free port: signed deliveries start
runs, replays start none, bad deliveries get their problem+json and the server keeps
serving."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.app import accounts, repos
from stageline.app.accounts import Role
from stageline.app.serverdata import open_server
from tests.app.conftest import make_repo
from tests.support.git import git
from tests.support.server import served

SECRET = "webhook-secret-of-webapp"
CI = """on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
"""
PROBLEM = "application/problem+json"
#: A delivery is answered once its runs are recorded (fetch, plan, start): generous on a
#: loaded machine.
TIMEOUT = 60.0


def _post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=TIMEOUT, **kwargs)


def _get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=TIMEOUT, **kwargs)


@dataclass
class Site:
    base: str
    data: Path
    source: Path
    sha: str
    viewer: str

    def events(self) -> list[dict[str, Any]]:
        answer = _get(
            f"{self.base}/api/v1/repos/webapp/events",
            headers={"Authorization": f"Bearer {self.viewer}"},
        )
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("hooks")
    source = make_repo(tmp / "webapp", {".github/workflows/ci.yml": CI})
    data = tmp / "data"
    with open_server(data) as server:
        repos.add_repo(server, "webapp", str(source), SECRET)
        other = make_repo(tmp / "other", {".github/workflows/ci.yml": CI})
        repos.add_repo(server, "unsigned", str(other), None)
        user = accounts.add_user(server, "vera", Role.VIEWER)
        viewer, _ = accounts.create_token(server, user)
    with served(data) as server_process:
        yield Site(server_process.url, data, source, git(source, "rev-parse", "HEAD"), viewer)


def _github_push(site: Site, **more: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": site.sha,
        "repository": {"full_name": "acme/webapp", "clone_url": str(site.source)},
        "sender": {"login": "alice"},
        "head_commit": {"id": site.sha, "author": {"email": "alice@example.com"}},
        "commits": [{"id": site.sha, "added": [".github/workflows/ci.yml"]}],
    }
    payload.update(more)
    return payload


def _signed(body: bytes, event: str = "push", secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    return body


def test_a_signed_push_starts_a_run_and_its_replay_starts_none(site: Site) -> None:
    body = json.dumps(_github_push(site)).encode()
    headers = _signed(body)
    answer = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    event = answer.json()
    assert (event["outcome"], event["kind"], event["sha"]) == ("started", "push", site.sha)
    assert len(event["run_ids"]) == 1
    replay = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=headers)
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate delivery"})
    delivered = [e for e in site.events() if e["delivery_id"] == headers["X-GitHub-Delivery"]]
    assert len(delivered) == 1
    with open_server(site.data) as server:
        link = server.store.server.run_link(event["run_ids"][0])
        assert link is not None and link.trigger_id == event["id"]
        runs = server.store.server.runs_of_repo(link.repo_id)
    assert runs.count(event["run_ids"][0]) == 1


def test_without_repo_the_payload_url_names_the_repository(site: Site) -> None:
    body = json.dumps(_github_push(site)).encode()
    answer = _post(f"{site.base}/hooks/github", content=body, headers=_signed(body))
    assert answer.status_code == 202, answer.text
    assert answer.json()["repo"] == "webapp"


@pytest.mark.parametrize(
    "header",
    [None, "sha256=" + "0" * 64, "not-a-signature", "SIGNED-WITH-ANOTHER-SECRET"],
)
def test_a_bad_or_missing_signature_is_a_401_and_records_nothing(
    site: Site, header: str | None
) -> None:
    before = len(site.events())
    body = json.dumps(_github_push(site)).encode()
    headers = _signed(body)
    if header is None:
        del headers["X-Hub-Signature-256"]
    elif header == "SIGNED-WITH-ANOTHER-SECRET":
        headers = _signed(body, secret="guessed")
    else:
        headers["X-Hub-Signature-256"] = header
    answer = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=headers)
    problem = _problem(answer, 401)
    assert "X-Hub-Signature-256" in problem["detail"]
    assert len(site.events()) == before
    with open_server(site.data) as server:
        rejected = [a for a in server.store.server.list_audit() if a.action == "hook.reject"]
    assert rejected and rejected[0].target == "webapp"


def test_a_repository_without_a_secret_takes_no_delivery(site: Site) -> None:
    body = json.dumps(_github_push(site)).encode()
    answer = _post(f"{site.base}/hooks/github?repo=unsigned", content=body, headers=_signed(body))
    assert "no webhook secret" in _problem(answer, 401)["detail"]


def test_malformed_json_is_a_400(site: Site) -> None:
    body = b'{"ref": "refs/heads/main", "after": '
    answer = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=_signed(body))
    assert "not valid JSON" in _problem(answer, 400)["detail"]
    answer = _post(f"{site.base}/hooks/github", content=body, headers=_signed(body))
    _problem(answer, 400)


def test_an_unknown_repository_is_a_404(site: Site) -> None:
    body = json.dumps(_github_push(site)).encode()
    answer = _post(f"{site.base}/hooks/github?repo=nope", content=body, headers=_signed(body))
    assert "no repository named 'nope'" in _problem(answer, 404)["detail"]
    elsewhere = _github_push(site, repository={"clone_url": "https://git.example/x/y.git"})
    body = json.dumps(elsewhere).encode()
    answer = _post(f"{site.base}/hooks/github", content=body, headers=_signed(body))
    assert "https://git.example/x/y.git" in _problem(answer, 404)["detail"]


def test_a_gitlab_and_a_gitea_push_start_runs(site: Site) -> None:
    gitlab = {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": site.sha,
        "checkout_sha": site.sha,
        "user_username": "alice",
        "project": {"git_http_url": str(site.source)},
        "commits": [],
    }
    body = json.dumps(gitlab).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
    answer = _post(f"{site.base}/hooks/gitlab", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "started"
    answer = _post(
        f"{site.base}/hooks/gitlab", content=body, headers={**headers, "X-Gitlab-Token": "x"}
    )
    _problem(answer, 401)
    body = json.dumps(_github_push(site)).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "g-1", "X-Gitea-Signature": digest}
    answer = _post(f"{site.base}/hooks/gitea?repo=webapp", content=body, headers=headers)
    assert (answer.status_code, answer.json()["source"]) == (202, "gitea")


def test_a_ping_answers_pong_and_a_push_to_an_unmatched_branch_says_why(site: Site) -> None:
    body = b'{"zen": "Design for failure."}'
    answer = _post(
        f"{site.base}/hooks/github?repo=webapp", content=body, headers=_signed(body, "ping")
    )
    assert (answer.status_code, answer.json()) == (200, {"status": "pong"})
    body = json.dumps(_github_push(site, ref="refs/heads/dev")).encode()
    answer = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=_signed(body))
    assert answer.status_code == 202
    event = answer.json()
    assert event["outcome"] == "nothing"
    assert "branch 'dev' does not match push.branches [main]" in event["reason"]
    shown = _get(
        f"{site.base}/api/v1/events/{event['id']}",
        headers={"Authorization": f"Bearer {site.viewer}"},
    ).json()
    assert (shown["reason"], shown["payload"]["ref"]) == (event["reason"], "refs/heads/dev")


def test_events_need_a_user_and_the_server_keeps_serving(site: Site) -> None:
    _problem(_get(f"{site.base}/api/v1/repos/webapp/events"), 401)
    _problem(_get(f"{site.base}/api/v1/events/1"), 401)
    missing = _get(
        f"{site.base}/api/v1/events/999999", headers={"Authorization": f"Bearer {site.viewer}"}
    )
    _problem(missing, 404)
    assert _get(f"{site.base}/api/v1/health").status_code == 200


def test_events_page_back_with_the_next_cursor(site: Site) -> None:
    for branch in ("p1", "p2"):
        body = json.dumps(_github_push(site, ref=f"refs/heads/{branch}")).encode()
        answer = _post(f"{site.base}/hooks/github?repo=webapp", content=body, headers=_signed(body))
        assert answer.status_code == 202
    auth = {"Authorization": f"Bearer {site.viewer}"}
    url = f"{site.base}/api/v1/repos/webapp/events"
    first = _get(url, params={"limit": 1}, headers=auth).json()
    assert [e["ref"] for e in first["events"]] == ["refs/heads/p2"]
    second = _get(url, params={"limit": 1, "before": first["next"]}, headers=auth).json()
    assert [e["ref"] for e in second["events"]] == ["refs/heads/p1"]
    everything = site.events()
    assert everything[:2] == first["events"] + second["events"]
    assert _get(url, params={"limit": 0}, headers=auth).status_code == 422
