"""Dispatch, cancel and re-run through a real `stageline serve`, as a developer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.app import accounts, repos
from stageline.app.accounts import Role
from stageline.app.serverdata import open_server
from tests.support.server import make_source, served, wait_until

DEPLOY = """on:
  workflow_dispatch:
    inputs:
      dry:
        type: boolean
        required: true
      level:
        type: choice
        options: [low, high]
        default: low
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: echo "dry=${{ inputs.dry }} level=${{ inputs.level }}"
"""
SLOW = """on: workflow_dispatch
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 30
"""
FLAKY = """on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
  other:
    runs-on: ubuntu-latest
    steps:
      - run: echo fine
"""


@dataclass
class Site:
    url: str
    data: Path
    developer: str
    viewer: str

    def post(self, path: str, token: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.post(f"{self.url}/api/v1{path}", json=body, headers=headers, timeout=60)

    def run(self, run_id: int) -> tuple[str, str | None, list[str]]:
        """(status, conclusion, job ids) of a run, from the record."""
        with open_server(self.data) as server:
            detail = server.store.runs.get_run(run_id)
            return detail.run.status, detail.run.conclusion, [j.job_id for j in detail.jobs]

    def finished(self, run_id: int) -> str | None:
        wait_until(lambda: self.run(run_id)[0] == "completed", f"run {run_id} to end")
        return self.run(run_id)[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("dispatch")
    source = tmp / "webapp"
    make_source(
        source,
        {
            ".github/workflows/deploy.yml": DEPLOY,
            ".github/workflows/slow.yml": SLOW,
            ".github/workflows/flaky.yml": FLAKY,
        },
    )
    data = tmp / "data"
    with open_server(data) as server:
        repos.add_repo(server, "webapp", str(source), "secret")
        developer, _ = accounts.create_token(
            server, accounts.add_user(server, "dev", Role.DEVELOPER)
        )
        viewer, _ = accounts.create_token(server, accounts.add_user(server, "vic", Role.VIEWER))
    with served(data) as process:
        yield Site(process.url, data, developer, viewer)


def test_a_dispatch_needs_a_developer_and_types_its_inputs(site: Site) -> None:
    body = {"workflow": "deploy.yml", "inputs": {"dry": True, "level": "high"}}
    refused = site.post("/repos/webapp/dispatch", site.viewer, body)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    bad = site.post("/repos/webapp/dispatch", site.developer, {**body, "inputs": {"dry": 7}})
    assert bad.status_code == 422, bad.text
    problem = bad.json()
    assert "input 'dry' is a boolean, got '7'" in problem["detail"]
    assert problem["event"]["outcome"] == "error"
    good = site.post("/repos/webapp/dispatch", site.developer, body)
    assert good.status_code == 201, good.text
    event = good.json()
    assert (event["kind"], event["actor"], event["ref"]) == (
        "workflow_dispatch",
        "dev",
        "refs/heads/main",
    )
    assert site.finished(event["run_ids"][0]) == "success"
    unknown = site.post("/repos/webapp/dispatch", site.developer, {"workflow": "nope.yml"})
    assert unknown.status_code == 422
    assert "no workflow 'nope.yml'" in unknown.json()["detail"]
    assert site.post("/repos/nope/dispatch", site.developer, body).status_code == 404


def test_a_running_run_is_cancelled_once(site: Site) -> None:
    started = site.post("/repos/webapp/dispatch", site.developer, {"workflow": "slow.yml"})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_ids"][0]
    assert site.post(f"/runs/{run_id}/cancel", site.viewer).status_code == 403
    cancelled = site.post(f"/runs/{run_id}/cancel", site.developer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"run_id": run_id, "how": "requested"}
    assert site.finished(run_id) == "cancelled"
    again = site.post(f"/runs/{run_id}/cancel", site.developer)
    assert again.status_code == 400
    assert "has ended" in again.json()["detail"]
    assert site.post("/runs/999999/cancel", site.developer).status_code == 404


def test_a_rerun_of_failed_jobs_runs_them_with_what_they_need(site: Site) -> None:
    started = site.post("/repos/webapp/dispatch", site.developer, {"workflow": "flaky.yml"})
    run_id = started.json()["run_ids"][0]
    assert site.finished(run_id) == "failure"
    failed = site.post(f"/runs/{run_id}/rerun", site.developer, {"failed_only": True})
    assert failed.status_code == 201, failed.text
    (again,) = failed.json()["run_ids"]
    assert site.finished(again) == "failure"
    assert sorted(site.run(again)[2]) == ["build", "check"]  # not `other`, which passed
    whole = site.post(f"/runs/{run_id}/rerun", site.developer)
    assert whole.status_code == 201, whole.text
    (full,) = whole.json()["run_ids"]
    site.finished(full)
    assert sorted(site.run(full)[2]) == ["build", "check", "other"]
    with open_server(site.data) as server:
        actions = [(a.actor, a.action) for a in server.store.server.list_audit()]
    assert ("dev", "run.rerun") in actions and ("dev", "trigger") in actions
