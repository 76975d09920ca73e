"""`/api/v1/runs` on a real server: listing with filters and pages, one run, artifacts,
and approvals by an authenticated reviewer (the author refused by prevent_self_review)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from stageline.app.serverdata import open_server
from tests.server.api.conftest import Team, wait_for

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


def run_state(team: Team, run_id: int) -> dict[str, Any]:
    with team.client("vera") as api:
        document: dict[str, Any] = api.get(f"/runs/{run_id}").json()
    return document


def waiting(team: Team, run_id: int) -> bool:
    return run_state(team, run_id)["status"] == "waiting"


def test_runs_are_listed_read_and_approved_by_a_reviewer_not_the_author(any_team: Team) -> None:
    team = any_team
    first = team.start_run()
    wait_for(lambda: waiting(team, first), "run 1 to wait at production's gate")
    second = team.start_run()
    wait_for(lambda: waiting(team, second), "run 2 to wait at production's gate")

    with team.client("vera") as api:
        page = api.get("/runs", params={"limit": 1}).json()
        assert [r["id"] for r in page["runs"]] == [second]
        rest = api.get("/runs", params={"limit": 1, "cursor": page["next_cursor"]}).json()
        assert ([r["id"] for r in rest["runs"]], rest["next_cursor"]) == ([first], None)
        chosen = {
            "repo": "demo",
            "status": "waiting",
            "branch": "main",
            "workflow": ".github/workflows/ci.yml",
        }
        assert [r["id"] for r in api.get("/runs", params=chosen).json()["runs"]] == [second, first]
        assert api.get("/runs", params={"status": "failure"}).json()["runs"] == []
        unknown = api.get("/runs", params={"repo": "nope"})
        assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)

        document = api.get(f"/runs/{first}").json()
        assert [j["key"] for j in document["jobs"]] == ["build", "deploy"]
        build = document["jobs"][0]
        assert [s["conclusion"] for s in build["steps"]] == ["success"] * 3
        assert [a["name"] for a in document["artifacts"]] == ["site"]
        assert document["waiting_for"]

        missing = api.get("/runs/999")
        assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
        assert missing.json()["detail"].endswith("no run 999")

        archive = api.get(f"/runs/{first}/artifacts/site")
        assert archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
            assert zipped.read("index.html").decode().startswith("<h1>")
        assert api.get(f"/runs/{first}/artifacts/nope").status_code == 404

        refused = api.post(f"/runs/{first}/approvals", json={"decision": "approve"})
        assert refused.status_code == 403  # a viewer decides nothing

    with team.client() as anonymous:
        assert anonymous.get("/runs").status_code == 401

    with team.client("alice") as api:  # alice wrote the commit
        own = api.post(f"/runs/{first}/approvals", json={"decision": "approve", "comment": "mine"})
        assert (own.status_code, own.headers["content-type"]) == (403, PROBLEM)
        assert "alice triggered the run and self-review is not allowed" in own.json()["detail"]
    assert run_state(team, first)["status"] == "waiting"

    with team.client("bob") as api:
        made = api.post(
            f"/runs/{first}/approvals",
            json={"decision": "approve", "environment": "production", "comment": "ship it"},
        )
        assert made.status_code == 200, made.text
        assert made.json() == {
            "run_id": first,
            "environment": "production",
            "kind": "approval",
            "decision": "approve",
            "reviewer": "bob",
            "effect": "approved",
        }
        rejected = api.post(f"/runs/{second}/approvals", json={"decision": "reject"})
        assert rejected.json()["effect"] == "rejected"

    done = wait_for(
        lambda: (s := run_state(team, first))["status"] == "completed" and s, "run 1 to deploy"
    )
    assert done["conclusion"] == "success"
    with team.client("bob") as api:
        late = api.post(f"/runs/{first}/approvals", json={"decision": "reject"})
        assert (late.status_code, late.headers["content-type"]) == (409, PROBLEM)
        assert "is not waiting for a decision" in late.json()["detail"]
    ended = wait_for(
        lambda: (s := run_state(team, second))["status"] == "completed" and s, "run 2 to end"
    )
    assert ended["conclusion"] == "failure"

    with open_server(team.data_dir, team.database_url) as server:
        audit = [(a.actor, a.action, a.target) for a in server.store.server.list_audit()]
    assert ("alice", "gate.approve", str(first)) in audit
    assert ("bob", "gate.approve", str(first)) in audit
    assert ("bob", "gate.reject", str(second)) in audit


def test_bad_requests_are_problems(team: Team) -> None:
    with team.client("root") as api:
        assert api.get("/runs", params={"cursor": "x"}).status_code == 400
        assert api.get("/runs", params={"limit": 0}).status_code == 422
        assert api.get("/runs/0").status_code == 422
        body = api.post("/runs/1/approvals", json={"decision": "maybe"})
        assert (body.status_code, body.headers["content-type"]) == (422, PROBLEM)
        assert api.post("/runs/1/approvals", json={"decision": "approve"}).status_code == 404


#: Starts a run of the team's project in a run host of its own process (a server's, as
#: far as the record can tell), prints its id, and holds it in its build step.
HOSTED = """
import sys
from stageline.app import repos, runs
from stageline.app.host import RunHost
from stageline.app.serverdata import open_server
from stageline.engine.setup import RunOptions

with open_server(sys.argv[1]) as server:
    host = RunHost(server)
    repo = repos.get_repo(server, "demo")
    sha = repos.fetch(server, repo, "main")
    checkout = repos.checkout(server, repo, sha, "refs/heads/main")
    options = RunOptions(cwd=checkout, event="push", actor="alice", vars={"HOLD": sys.argv[2]})
    [run_id] = host.start(runs.prepare(options), repo, "root", author_email="alice@example.com")
    print(run_id, flush=True)
    host.join()
"""


def test_a_run_its_server_died_in_is_reaped_then_resumed_to_its_end(team: Team) -> None:
    """Issue 12: a server killed mid-job leaves a run the next start concludes with the
    reason; `resume` through the server then re-runs its interrupted jobs to the end."""
    import signal
    import subprocess
    import sys

    from tests.support.server import environ, served

    hold = team.data_dir.parent / "go-on"
    engine = subprocess.Popen(
        [sys.executable, "-c", HOSTED, str(team.data_dir), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
        env=environ(),
        start_new_session=True,
    )
    assert engine.stdout is not None
    run = int(engine.stdout.readline())
    wait_for(
        lambda: any(
            s["status"] == "in_progress" and "tick" in s["name"]
            for j in run_state(team, run)["jobs"]
            for s in j.get("steps", [])
        ),
        "the build step to hold",
    )
    engine.kill()  # SIGKILL: the server running the run is gone
    engine.communicate(timeout=60)
    assert engine.returncode == -signal.SIGKILL
    team.served.stop()
    with served(team.data_dir) as restarted:  # its start reaps what the dead one left
        team.served = restarted
        reaped = run_state(team, run)
        assert (reaped["status"], reaped["conclusion"]) == ("completed", "failure")
        assert "stageline process (pid " in reaped["reason"]
        hold.touch()
        with team.client("alice") as api:
            resumed = api.post(f"/runs/{run}/resume")
            assert resumed.status_code == 202, resumed.text
        wait_for(lambda: waiting(team, run), "the resumed run to reach production's gate")
        with team.client("bob") as api:
            assert api.post(f"/runs/{run}/approvals", json={"decision": "approve"}).is_success
        wait_for(lambda: run_state(team, run)["status"] == "completed", "the run to end")
        done = run_state(team, run)
        assert (done["conclusion"], done["reason"]) == ("success", None)
        assert {j["key"]: j["conclusion"] for j in done["jobs"]} == {
            "build": "success",
            "deploy": "success",
        }
        restarted.stop()
