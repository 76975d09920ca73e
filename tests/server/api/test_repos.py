"""`/api/v1/repos` on a served app."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import Live
from tests.support.server import make_source


def test_admins_add_repositories_everyone_reads_them(live: Live, tmp_path: Path) -> None:
    make_source(tmp_path / "web", {"a.txt": "a"})
    body = {"name": "web", "url": str(tmp_path / "web"), "webhook_secret": "s3cret"}
    with live.client("developer") as developer:
        assert developer.post("/api/v1/repos", json=body).status_code == 403
    with live.client("admin") as admin:
        added = admin.post("/api/v1/repos", json=body)
        assert added.status_code == 201, added.text
        assert added.json()["name"] == "web" and added.json()["has_webhook_secret"] is True
        assert "s3cret" not in added.text
        again = admin.post("/api/v1/repos", json=body)
        assert again.status_code == 400
        assert "already registered" in again.json()["detail"]
        audit = admin.get("/api/v1/audit").json()
    assert any(a["action"] == "repo.add" and a["actor"] == "admin" for a in audit)
    with live.client("viewer") as viewer:
        listed = viewer.get("/api/v1/repos").json()
        assert [r["name"] for r in listed] == ["web"]
        one = viewer.get("/api/v1/repos/web").json()
        assert one["url"] == str(tmp_path / "web") and "s3cret" not in str(one)
