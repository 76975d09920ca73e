"""Environments, deployments, DORA metrics and rollback on a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stageline.app.serverdata import open_server
from tests.server.api.conftest import CONFIG, Team, wait_for
from tests.support.git import git

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


def followed(api: httpx.Client, rollback: dict[str, Any]) -> dict[str, Any]:
    """A rollback the server runs in the background, once it has ended (its record)."""

    def ended() -> dict[str, Any] | None:
        found: dict[str, Any] = api.get(f"/rollbacks/{rollback['id']}").json()
        return found if found["status"] != "in_progress" else None

    return dict(wait_for(ended, f"rollback {rollback['id']} to end"))


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
        started = api.post("/environments/production/rollback", json={}, params={"repo": "demo"})
        assert started.status_code == 202, started.text
        assert started.headers["location"] == f"/api/v1/rollbacks/{started.json()['id']}"
        done = followed(api, started.json())
        assert (done["status"], done["by_run"], done["requested_by"]) == ("success", None, "alice")
        assert (done["replaces"], done["restores"]) == (rows[0]["id"], rows[1]["id"])
        assert done["reason"].startswith(f"production rolled back to deployment #{rows[1]['id']}")
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


def test_a_rollback_runs_in_the_background_and_is_followed_to_its_end(team: Team) -> None:
    """Issue 8: the rollback route answers 202 at once, while the rollback's script still
    runs on the server's run host; its record says how it goes, then how it ended."""
    release = team.data_dir.parent / "release-the-rollback"
    script = f"until [ -e {release} ]; do sleep 0.05; done; echo restored"
    config = CONFIG.replace(
        "      prevent_self_review: true\n",
        f"      prevent_self_review: true\n    rollback: {{run: '{script}'}}\n",
    )
    (team.project / ".stageline.yml").write_text(config)
    git(team.project, "commit", "-qam", "a rollback script that waits")
    first, second = deployed(team), deployed(team)
    with team.client("alice") as api:
        started = api.post("/environments/production/rollback", json={})
        assert started.status_code == 202, started.text
        rollback = started.json()
        assert (rollback["status"], rollback["reason"]) == ("in_progress", None)
        again = api.get(f"/rollbacks/{rollback['id']}").json()
        assert again["status"] == "in_progress"  # the script waits: nothing ended it
        newest = api.get("/deployments").json()[0]
        assert (newest["kind"], newest["status"]) == ("rollback", "in_progress")
        release.touch()
        done = followed(api, rollback)
        assert done["status"] == "success", done
        assert done["reason"].startswith("production rolled back to deployment #")
        assert api.get("/rollbacks/999999").status_code == 404
    with team.client("vera") as api:
        runs = {d["run_id"]: d["status"] for d in api.get("/deployments").json()}
    assert runs[second] == "rolled_back" and runs[first] == "inactive"
