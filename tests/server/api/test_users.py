"""`/api/v1/users`, `/api/v1/tokens`, `/api/v1/audit` on a served app."""

from __future__ import annotations

import httpx

from tests.server.conftest import Live


def test_admins_add_users_who_then_sign_in_with_their_tokens(live: Live) -> None:
    with live.client("admin") as admin:
        made = admin.post(
            "/api/v1/users",
            json={"name": "erin", "role": "reviewer", "emails": ["Erin@Example.com"]},
        )
        assert made.status_code == 201, made.text
        assert made.json()["emails"] == ["erin@example.com"]
        names = [u["name"] for u in admin.get("/api/v1/users").json()]
        assert "erin" in names and "password_hash" not in admin.get("/api/v1/users").text
    with live.client("developer") as developer:
        me = developer.get("/api/v1/users/me").json()
        assert (me["name"], me["role"]) == ("developer", "developer")


def test_users_manage_their_own_tokens_only(live: Live) -> None:
    with live.client("viewer") as viewer:
        created = viewer.post("/api/v1/tokens", json={"name": "laptop", "expires": "1d"})
        assert created.status_code == 201, created.text
        token, token_id = created.json()["token"], created.json()["id"]
        listed = viewer.get("/api/v1/tokens").json()
        assert [t["name"] for t in listed] == ["test", "laptop"]
        assert all("token" not in t for t in listed)  # the secret is shown once only
    fresh = httpx.get(f"{live.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert fresh.json()["name"] == "viewer"
    with live.client("developer") as developer:
        assert developer.delete(f"/api/v1/tokens/{token_id}").status_code == 404  # not theirs
        bad = developer.post("/api/v1/tokens", json={"expires": "soon"})
        assert bad.status_code == 400 and "invalid duration" in bad.json()["detail"]
    with live.client("viewer") as viewer:
        assert viewer.delete(f"/api/v1/tokens/{token_id}").status_code == 204
        assert viewer.delete(f"/api/v1/tokens/{token_id}").status_code == 404
        revoked = viewer.get("/api/v1/tokens").json()[1]
        assert revoked["revoked_at"] is not None
    gone = httpx.get(f"{live.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    with live.client("admin") as admin:
        actions = [(a["actor"], a["action"]) for a in admin.get("/api/v1/audit").json()]
        page = admin.get("/api/v1/audit", params={"limit": 2}).json()
        older = admin.get("/api/v1/audit", params={"limit": 2, "before": page[-1]["id"]}).json()
    assert ("viewer", "token.create") in actions and ("viewer", "token.revoke") in actions
    assert ("", "login.failed") in actions
    assert len(page) == 2 and older[0]["id"] < page[-1]["id"]


def test_ids_out_of_range_are_422_not_a_server_error(live: Live) -> None:
    with live.client("admin") as admin:
        huge = admin.delete(f"/api/v1/tokens/{2**70}")
        assert huge.status_code == 422 and "token_id" in huge.json()["detail"]
        before = admin.get("/api/v1/audit", params={"before": 2**70})
        assert before.status_code == 422
