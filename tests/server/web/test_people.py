"""The users page and its form, against a real `stageline serve`: an admin adds a user
who can then sign in; others cannot see the page; refusals come back in the form."""

from __future__ import annotations

import httpx

from tests.server.web.serving import log_in


def _row(page: str, name: str) -> str:
    return page.split(f'data-user="{name}"')[1].split("</tr>")[0]


def test_an_admin_adds_a_user_who_then_signs_in_audited(client: httpx.Client) -> None:
    csrf = log_in(client, "admin")
    page = client.get("/users")
    assert page.status_code == 200 and 'id="add-user"' in page.text
    assert "reviewer" in _row(page.text, "alice")
    form = {
        "csrf_token": csrf,
        "name": "frank",
        "role": "reviewer",
        "emails": "frank@example.com, f.rank@example.com",
        "password": "a long enough password",
    }
    added = client.post("/users", data=form)
    assert added.status_code == 303, added.text
    page = client.get(added.headers["location"]).text
    assert "frank added." in page
    row = _row(page, "frank")
    assert "reviewer" in row and "<code>frank@example.com</code>" in row
    assert "<code>f.rank@example.com</code>" in row and "password or token" in row
    assert "a long enough password" not in page
    assert "user.add" in client.get("/audit").text
    with httpx.Client(base_url=str(client.base_url), timeout=30) as other:
        log_in(other, "frank", "a long enough password")
        assert "frank (reviewer)" in other.get("/").text


def test_a_user_without_a_password_signs_in_with_tokens_only(client: httpx.Client) -> None:
    csrf = log_in(client, "admin")
    form = {"csrf_token": csrf, "name": "ci-bot", "role": "worker", "emails": ""}
    assert client.post("/users", data=form).status_code == 303
    row = _row(client.get("/users").text, "ci-bot")
    assert "worker" in row and "tokens only" in row


def test_only_admins_see_the_page(client: httpx.Client) -> None:
    csrf = log_in(client, "alice")
    assert client.get("/users").status_code == 403
    assert 'href="/users"' not in client.get("/").text
    refused = client.post("/users", data={"csrf_token": csrf, "name": "x", "role": "admin"})
    assert refused.status_code == 403


def test_refusals_come_back_in_the_form(client: httpx.Client) -> None:
    csrf = log_in(client, "admin")
    cases = {
        ("bad name!", "viewer", ""): "invalid user name",
        ("gina", "boss", ""): "unknown role",
        ("hank", "viewer", "not-an-email"): "invalid email",
        ("alice", "viewer", ""): "alice",
    }
    for (name, role, emails), message in cases.items():
        form = {"csrf_token": csrf, "name": name, "role": role, "emails": emails}
        refused = client.post("/users", data=form)
        assert refused.status_code == 400, (name, refused.text)
        assert 'role="alert"' in refused.text and message in refused.text, refused.text
        assert f'value="{name}"' in refused.text.replace("&#34;", '"')
