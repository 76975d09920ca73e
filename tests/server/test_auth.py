"""Every route against every role (one table), tokens, session cookies and CSRF."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response

from stageline.app import accounts
from stageline.app.accounts import Role
from stageline.app.serverdata import open_server
from stageline.server import auth
from stageline.server.app import ServerSettings, create_app
from stageline.server.state import server_of
from tests.server.conftest import PASSWORD, Live, serving
from tests.server.web.rules import WEB_PARAMS, WEB_RULES

#: Who may call each route. A route missing here, or a rule that differs, fails.
TABLE: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/openapi.json"): "public",
    ("GET", "/api/v1/docs"): "public",
    ("GET", "/api/v1/health"): "public",
    ("GET", "/api/v1/repos"): "viewer",
    ("POST", "/api/v1/repos"): "admin",
    ("GET", "/api/v1/repos/{name}"): "viewer",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("GET", "/api/v1/users/me"): "viewer",
    ("GET", "/api/v1/tokens"): "viewer",
    ("POST", "/api/v1/tokens"): "viewer",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/repos/{name}/events"): "viewer",
    ("GET", "/api/v1/events/{trigger_id}"): "viewer",
    ("POST", "/api/v1/repos/{name}/dispatch"): "developer",
    ("POST", "/api/v1/runs/{run_id}/cancel"): "developer",
    ("POST", "/api/v1/runs/{run_id}/rerun"): "developer",
    ("POST", "/hooks/github"): "signed",
    ("POST", "/hooks/gitea"): "signed",
    ("POST", "/hooks/gitlab"): "signed",
    ("POST", "/hooks/git"): "signed",
    ("GET", "/api/v1/runs"): "viewer",
    ("GET", "/api/v1/runs/{run_id}"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/artifacts/{name}"): "viewer",
    ("POST", "/api/v1/runs/{run_id}/approvals"): "reviewer",
    ("POST", "/api/v1/runs/{run_id}/resume"): "developer",
    ("GET", "/api/v1/runs/{run_id}/jobs/{job}/logs"): "viewer",
    ("GET", "/api/v1/runs/{run_id}/jobs/{job}/logs/follow"): "viewer",
    ("GET", "/api/v1/environments"): "viewer",
    ("GET", "/api/v1/deployments"): "viewer",
    ("GET", "/api/v1/metrics"): "viewer",
    ("POST", "/api/v1/environments/{name}/rollback"): "reviewer",
    ("GET", "/api/v1/rollbacks/{rollback_id}"): "viewer",
    ("GET", "/api/v1/workers"): "viewer",
    ("GET", "/workers"): "viewer",
    ("POST", "/api/v1/agent/workers/{name}/heartbeat"): "agent",
    ("POST", "/api/v1/agent/attempts/{attempt}/claim"): "agent",
    ("POST", "/api/v1/agent/attempts/{attempt}/events"): "agent",
    ("POST", "/api/v1/agent/attempts/{attempt}/finish"): "agent",
    ("GET", "/git/{repo}.git/info/refs"): "agent",
    ("POST", "/git/{repo}.git/git-upload-pack"): "agent",
    ("GET", "/api/v1/agent/runs/{run_id}/artifacts"): "agent",
    ("GET", "/api/v1/agent/runs/{run_id}/artifacts/{name}"): "agent",
    ("PUT", "/api/v1/agent/runs/{run_id}/artifacts/{name}"): "agent",
    ("POST", "/api/v1/agent/cache/{repo}/lookup"): "agent",
    ("GET", "/api/v1/agent/cache/{repo}/entries"): "agent",
    ("PUT", "/api/v1/agent/cache/{repo}/entries"): "agent",
    ("GET", "/api/v1/agent/actions/{owner}/{name}/{ref}"): "agent",
    ("GET", "/api/v1/repos/{name}/secrets"): "admin",
    ("PUT", "/api/v1/repos/{name}/secrets/{secret}"): "admin",
    ("DELETE", "/api/v1/repos/{name}/secrets/{secret}"): "admin",
    **WEB_RULES,
}
#: Values for path parameters, so that a call gets past routing.
PARAMS = {
    "name": "nosuch",
    "token_id": "999999",
    "trigger_id": "999999",
    "run_id": "999999",
    "rollback_id": "999999",
    "job": "build",
    "attempt": "0" * 32,
    "repo": "nosuch",
    "owner": "nosuch",
    "ref": "v1",
    "secret": "TOKEN",
    **WEB_PARAMS,
}


def _app(tmp_path: Path) -> FastAPI:
    return create_app(ServerSettings(data_dir=tmp_path / "data"))


def _rule_text(rule: auth.Rule | None) -> str | None:
    if rule is None:
        return None
    return rule.role.value if rule.role else rule.kind


def test_every_route_has_the_rule_the_table_gives(tmp_path: Path) -> None:
    rules = {key: _rule_text(rule) for key, rule in auth.route_rules(_app(tmp_path)).items()}
    missing = sorted(key for key, rule in rules.items() if rule is None)
    assert not missing, f"routes without a rule (auth.require/public/signed): {missing}"
    assert rules == TABLE


def test_a_route_without_a_rule_is_reported(tmp_path: Path) -> None:
    app = _app(tmp_path)
    extra = APIRouter()

    @extra.get("/forgotten")
    def forgotten() -> None: ...

    @extra.get("/both", dependencies=[Depends(auth.public)])
    def both(principal: auth.Admin) -> None: ...

    app.include_router(extra, prefix="/api/v1")
    rules = auth.route_rules(app)
    assert rules[("GET", "/api/v1/forgotten")] is None
    assert rules[("GET", "/api/v1/both")] is None  # two different rules are a mistake too


def _call(client: httpx.Client, method: str, path: str) -> httpx.Response:
    url = path.format(**PARAMS)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, json=body)


@pytest.mark.parametrize("role", [None, *[r.value for r in Role]])
def test_each_role_gets_401_403_or_through_on_every_route(live: Live, role: str | None) -> None:
    with live.client(role) as client:
        app = create_app(ServerSettings(data_dir=live.data_dir))
        for method, path in auth.route_rules(app):
            expected = TABLE[(method, path)]
            answer = _call(client, method, path)
            where = f"{method} {path} as {role}"
            if expected in ("public", "signed"):
                assert answer.status_code not in (401, 403), where
            elif role is None:
                assert answer.status_code == 401, where
                assert answer.headers["content-type"] == "application/problem+json", where
                assert answer.headers["www-authenticate"].startswith("Bearer"), where
            elif expected == "agent":
                allowed = role in (Role.WORKER.value, Role.ADMIN.value)
                assert (answer.status_code != 403) == allowed, f"{where}: {answer.text}"
                assert answer.status_code < 500, f"{where}: {answer.text}"
            elif Role(role) < Role(expected):
                assert answer.status_code == 403, where
                assert answer.json()["status"] == 403, where
            else:
                assert answer.status_code not in (401, 403), f"{where}: {answer.text}"
                assert answer.status_code < 500, f"{where}: {answer.text}"


def test_bad_expired_and_revoked_tokens_are_refused_and_audited(live: Live) -> None:
    with open_server(live.data_dir) as server:
        user = server.store.server.get_user("developer")
        assert user is not None
        revoked, row = accounts.create_token(server, user, "gone")
        accounts.revoke_token(server, row.id, user)
        expired, _ = accounts.create_token(server, user, "old", "1ms")
    for header in (
        f"Bearer {revoked}",
        f"Bearer {expired}",
        "Bearer slt_forged",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ):
        answer = httpx.get(f"{live.url}/api/v1/users/me", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.headers["content-type"] == "application/problem+json"
    with live.client("admin") as admin:
        failed = [a for a in admin.get("/api/v1/audit").json() if a["action"] == "login.failed"]
    assert len(failed) >= 3


def _session_app(tmp_path: Path) -> FastAPI:
    """The app plus a bare login form and a form that changes something, beside the web
    UI's own (`server.web`), so these answer JSON the test can read."""
    app = create_app(ServerSettings(data_dir=tmp_path / "data", session_max_age=2))
    router = APIRouter()

    @router.get("/_test/login", dependencies=[Depends(auth.public)])
    def login_page(request: Request, response: Response) -> dict[str, str]:
        return {"csrf": auth.csrf_token(request, response)}

    @router.post("/_test/login", dependencies=[Depends(auth.public), Depends(auth.check_csrf)])
    async def login(request: Request, response: Response) -> dict[str, str]:
        form = await request.form()
        server = server_of(request)
        user = accounts.authenticate_password(server, str(form["name"]), str(form["password"]))
        if user is None:
            raise HTTPException(401, "wrong name or password")
        return {"csrf": auth.start_session(request, response, user)}

    @router.post("/_test/settings/tokens")
    def make_token(principal: auth.Viewer) -> dict[str, str]:
        return {"by": principal.name, "via": principal.via}

    app.include_router(router)
    return app


def test_session_cookies_are_signed_expire_and_need_csrf_for_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGELINE_DATABASE_URL", raising=False)
    with open_server(tmp_path / "data") as server:
        accounts.add_user(server, "alice", Role.VIEWER, [], PASSWORD)
    app = _session_app(tmp_path)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        form_csrf = client.get("/_test/login").json()["csrf"]
        assert auth.CSRF_COOKIE in client.cookies
        no_csrf = client.post("/_test/login", data={"name": "alice", "password": PASSWORD})
        assert no_csrf.status_code == 403
        assert no_csrf.headers["content-type"] == "application/problem+json"
        wrong = client.post(
            "/_test/login", data={"name": "alice", "password": "nope", "csrf_token": form_csrf}
        )
        assert wrong.status_code == 401
        done = client.post(
            "/_test/login", data={"name": "alice", "password": PASSWORD, "csrf_token": form_csrf}
        )
        assert done.status_code == 200
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        session_csrf = done.json()["csrf"]

        assert client.get("/api/v1/users/me").json()["name"] == "alice"
        assert client.post("/_test/settings/tokens").status_code == 403  # no CSRF token
        forged = client.post("/_test/settings/tokens", headers={auth.CSRF_HEADER: form_csrf})
        assert forged.status_code == 403
        ok = client.post("/_test/settings/tokens", data={"csrf_token": session_csrf})
        assert ok.json() == {"by": "alice", "via": "session"}

        value = client.cookies[auth.SESSION_COOKIE]
        client.cookies.set(auth.SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert client.get("/api/v1/users/me").status_code == 401  # forged
        client.cookies.set(auth.SESSION_COOKIE, value)
        assert client.get("/api/v1/users/me").status_code == 200
        time.sleep(3.1)
        assert client.get("/api/v1/users/me").status_code == 401  # expired

    with open_server(tmp_path / "data") as server:
        failed = [a for a in server.store.server.list_audit() if a.action == "login.failed"]
    assert [(a.actor, a.detail) for a in failed] == [("alice", {"via": "password"})]
