"""Environments, deployments, DORA metrics and rollback on a real server."""

from __future__ import annotations

from typing import Any

import pytest

from stageline.app.serverdata import open_server
from tests.server.api.conftest import Team, wait_for

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


def deployed(team: Team) -> int:
    """Start a run, have bob approve it, wait for it to deploy; its id."""
    run = team.start_run()
    with team.client("bob") as api:

        def approved() -> bool:
            made = api.post(f"/runs/{run}/approvals", json={"decision": "approve"})
            return made.status_code == 200

        wait_for(approved, f"run {run} to take bob's approval")
        wait_for(
            lambda: api.get(f"/runs/{run}").json()["status"] == "completed", f"run {run} to end"
        )
        assert api.get(f"/runs/{run}").json()["conclusion"] == "success"
    return run


def test_deployments_environments_metrics_and_a_rollback(team: Team) -> None:
    first, second = deployed(team), deployed(team)
    with team.client("vera") as api:
        [production] = api.get("/environments").json()
        assert production["name"] == "production"
        assert production["approval"] == ["1 of alice, bob"]
        assert production["deployments"] == 2
        rows: list[dict[str, Any]] = api.get("/deployments", params={"repo": "demo"}).json()
        assert [(d["run_id"], d["status"]) for d in rows] == [
            (second, "success"),
            (first, "inactive"),
        ]
        assert rows[0]["approved_by"] == ["bob"] and rows[0]["job"] == "deploy"
        assert production["current"] == rows[0]["id"]
        assert api.get("/deployments", params={"environment": "staging"}).json() == []
        [figures] = api.get("/metrics", params={"since": "24h"}).json()
        assert (figures["environment"], figures["deployments"]) == ("production", 2)
        assert figures["change_failure_rate"] == 0
        assert api.get("/metrics", params={"since": "soon"}).status_code == 400
        assert api.get("/environments", params={"repo": "nope"}).status_code == 404
        refused = api.post("/environments/production/rollback", json={})
        assert refused.status_code == 403  # a viewer rolls nothing back

    with team.client("alice") as api:
        done = api.post("/environments/production/rollback", json={}, params={"repo": "demo"})
        assert done.status_code == 200, done.text
        assert done.json()["by_run"] is None
        assert done.json()["reason"].startswith(
            f"production rolled back to deployment #{rows[1]['id']}"
        )
        newest = api.get("/deployments").json()[0]
        assert (newest["kind"], newest["status"], newest["triggered_by"]) == (
            "rollback",
            "success",
            "alice",
        )
        nothing = api.post("/environments/staging/rollback", json={})
        assert (nothing.status_code, nothing.headers["content-type"]) == (409, PROBLEM)
        assert "nothing is deployed to staging" in nothing.json()["detail"]

    with open_server(team.data_dir) as server:
        audit = [(a.actor, a.action, a.target) for a in server.store.server.list_audit()]
    assert ("alice", "environment.rollback", "demo:production") in audit
    assert ("alice", "environment.rollback", "demo:staging") in audit
