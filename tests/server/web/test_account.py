"""Logging in and out, CSRF on the login form, the settings page's tokens, the audit
page: against a real `stageline serve`."""

from __future__ import annotations

import httpx

from tests.server.web.serving import PASSWORD, Server, csrf_of, log_in

HTML = {"accept": "text/html"}


def test_a_page_without_a_session_is_the_login_form_with_401(client: httpx.Client) -> None:
    page = client.get("/environments?repo=shop", headers=HTML)
    assert page.status_code == 401
    assert 'action="/login"' in page.text
    assert 'name="next" value="/environments?repo=shop"' in page.text
    machine = client.get("/environments")
    assert machine.status_code == 401
    assert machine.headers["content-type"] == "application/problem+json"


def test_login_needs_the_forms_csrf_token(client: httpx.Client) -> None:
    form = client.get("/login")
    assert "stageline_csrf" in form.cookies
    refused = client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert refused.status_code == 400
    assert "missing its security token" in refused.text and 'action="/login"' in refused.text
    forged = client.post(
        "/login", data={"username": "bob", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert "stageline_session" not in client.cookies


def test_wrong_password_is_refused_and_audited(server: Server, client: httpx.Client) -> None:
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "bob", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    assert "Wrong name or password." in wrong.text
    assert 'value="bob"' in wrong.text
    with httpx.Client(base_url=server.url) as admin:
        log_in(admin, "admin")
        audit = admin.get("/audit")
    assert audit.status_code == 200
    assert "login.failed" in audit.text


def test_login_sets_an_http_only_session_and_follows_next(client: httpx.Client) -> None:
    token = csrf_of(client.get("/login").text)
    done = client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD, "csrf_token": token, "next": "/events"},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/events")
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    events = client.get("/events")
    assert events.status_code == 200 and "Trigger events" in events.text
    assert "bob (reviewer)" in events.text


def test_next_cannot_redirect_off_the_server(client: httpx.Client) -> None:
    token = csrf_of(client.get("/login").text)
    done = client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD, "csrf_token": token,
              "next": "//evil.example/"},
    )  # fmt: skip
    assert done.headers["location"] == "/"


def test_tokens_are_shown_once_work_and_can_be_revoked(
    server: Server, client: httpx.Client
) -> None:
    csrf = log_in(client, "dave")
    made = client.post(
        "/settings/tokens", data={"name": "laptop", "expires": "7d", "csrf_token": csrf}
    )
    assert made.status_code == 200
    plaintext = made.text.split('<div class="token" id="new-token">')[1].split("</div>")[0]
    assert plaintext.startswith("slt_")
    again = client.get("/settings")
    assert plaintext not in again.text and "laptop" in again.text
    bearer = {"authorization": f"Bearer {plaintext}"}
    with httpx.Client(base_url=server.url) as cli:
        assert cli.get("/events", headers=bearer).status_code == 200
        token_id = again.text.split("/settings/tokens/")[1].split("/revoke")[0]
        refused = client.post(f"/settings/tokens/{token_id}/revoke")
        assert refused.status_code == 403  # no CSRF token
        revoked = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert cli.get("/events", headers=bearer).status_code == 401
    assert "revoked" in client.get("/settings").text


def test_unknown_expiry_is_refused(client: httpx.Client) -> None:
    csrf = log_in(client, "dave")
    made = client.post("/settings/tokens", data={"name": "x", "expires": "1y", "csrf_token": csrf})
    assert made.status_code == 400 and "unknown expiry" in made.text


def test_the_audit_page_is_for_admins(client: httpx.Client) -> None:
    log_in(client, "alice")
    assert client.get("/audit").status_code == 403
    page = client.get("/audit", headers=HTML)
    assert page.status_code == 403 and "Not allowed" in page.text


def test_logout_ends_the_session(client: httpx.Client) -> None:
    csrf = log_in(client, "bob")
    done = client.post("/logout", data={"csrf_token": csrf})
    assert (done.status_code, done.headers["location"]) == (303, "/login")
    assert client.get("/settings").status_code == 401


def test_static_files_need_no_login(client: httpx.Client) -> None:
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and "htmx 2.0.11" in js.text
    assert client.get("/static/sse.min.js").status_code == 200
    assert "fg-1" in client.get("/static/style.css").text
