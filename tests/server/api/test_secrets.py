"""`/api/v1/repos/{name}/secrets` on a served app: admins set, list and remove a
registered repository's secrets; no answer (nor the audit log, nor the data dir) ever
holds a value; `stageline secret --server` goes through it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.app.serverdata import open_server
from tests.server.api.conftest import Team, wait_for
from tests.server.api.test_runs import run_state, waiting
from tests.server.conftest import Live
from tests.support.git import git
from tests.support.server import make_source

VALUE = "server-side-deploy-key-77a1"


def _register(live: Live, tmp_path: Path) -> None:
    make_source(tmp_path / "web", {"a.txt": "a"})
    with live.client("admin") as admin:
        added = admin.post("/api/v1/repos", json={"name": "web", "url": str(tmp_path / "web")})
        assert added.status_code == 201, added.text


def test_admins_set_list_and_remove_values_never_come_back(live: Live, tmp_path: Path) -> None:
    _register(live, tmp_path)
    url = "/api/v1/repos/web/secrets/deploy_key"
    body = {"value": VALUE, "environment": "production"}
    answers = []
    with live.client("developer") as developer:
        assert developer.put(url, json=body).status_code == 403
        assert developer.get("/api/v1/repos/web/secrets").status_code == 403
    with live.client("admin") as admin:
        made = admin.put(url, json=body)
        assert made.status_code == 201, made.text
        assert made.json() == {"name": "DEPLOY_KEY", "environment": "production", "created": True}
        again = admin.put(url, json=body)
        assert again.status_code == 200 and again.json()["created"] is False
        repo_wide = admin.put("/api/v1/repos/web/secrets/PLAIN", json={"value": VALUE + "x"})
        listed = admin.get("/api/v1/repos/web/secrets")
        assert listed.status_code == 200
        assert [(s["name"], s["environment"]) for s in listed.json()] == [
            ("PLAIN", ""),
            ("DEPLOY_KEY", "production"),
        ]
        unknown = admin.get("/api/v1/repos/nosuch/secrets")
        assert unknown.status_code == 404
        bad = admin.put("/api/v1/repos/web/secrets/1bad", json={"value": "v"})
        assert bad.status_code == 400 and "invalid secret name" in bad.json()["detail"]
        surrogate = admin.put(
            "/api/v1/repos/web/secrets/ODD",
            content=b'{"value": "\\ud800"}',
            headers={"content-type": "application/json"},
        )
        assert surrogate.status_code == 422, surrogate.text  # refused, no traceback
        audit = admin.get("/api/v1/audit")
        answers = [made, again, repo_wide, listed, audit]
        assert any(a["action"] == "secret.set" and a["target"] == "web" for a in audit.json())
        gone = admin.delete(url, params={"environment": "production"})
        assert gone.status_code == 204
        assert admin.delete(url, params={"environment": "production"}).status_code == 404
    for answer in answers:
        assert VALUE not in answer.text
    with open_server(live.data_dir) as server:
        assert server.store.secrets.values("web") == {"PLAIN": VALUE + "x"}
    for path in live.data_dir.rglob("*"):
        if path.is_file():
            assert VALUE.encode() not in path.read_bytes(), path


def test_the_cli_sets_and_lists_through_the_server(live: Live, tmp_path: Path) -> None:
    _register(live, tmp_path)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    environ.update(STAGELINE_SERVER=live.url, STAGELINE_TOKEN=live.tokens["admin"])

    def secret(*args: str, value: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stageline", "secret", *args],
            cwd=tmp_path,
            input=value,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = secret("set", "TOKEN", "--env", "staging", value=VALUE)  # the only repository
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("secret TOKEN added for environment 'staging' of web on ")
    listed = secret("list", "--repo", "web")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[3:5] == ["TOKEN", "staging"]
    assert VALUE not in listed.stdout
    assert secret("rm", "TOKEN", "--env", "staging").returncode == 0
    assert secret("list").stdout == "no secrets\n"
    environ["STAGELINE_TOKEN"] = live.tokens["developer"]
    refused = secret("set", "TOKEN", value=VALUE)
    assert refused.returncode == 1 and "403" in refused.stderr


SERVER_ONLY_CONFIG = """environments:
  production:
    approval:
      rules: [{reviewers: [alice, bob], required: 1}]
      where: server
"""
DEPLOY_WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: printf '%s' "${{{{ secrets.DEPLOY_KEY }}}}" > {out}/build
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: printf '%s' "${{{{ secrets.DEPLOY_KEY }}}}" > {out}/deploy
"""


@pytest.mark.slow
def test_a_server_run_gets_its_environment_secret_after_an_authenticated_approval(
    any_team: Team, tmp_path: Path
) -> None:
    """where: server — a decision made at a terminal is refused; the API's counts; the
    secret set through the API reaches the deploy job only, once its gate passed."""
    from stageline.app import gates, served

    team = any_team
    out = tmp_path / "seen"
    out.mkdir()
    (team.project / ".stageline.yml").write_text(SERVER_ONLY_CONFIG)
    (team.project / ".github/workflows/ci.yml").write_text(DEPLOY_WORKFLOW.format(out=out))
    git(team.project, "commit", "-qam", "server-only production")
    with team.client("root") as admin:
        made = admin.put(
            "/repos/demo/secrets/DEPLOY_KEY", json={"value": VALUE, "environment": "production"}
        )
        assert made.status_code == 201, made.text
    run_id = team.start_run()
    wait_for(lambda: waiting(team, run_id), "the gate to wait")
    assert (out / "build").read_text() == ""
    assert not (out / "deploy").exists()
    # a terminal deciding on the server's own store, with the run's rules: refused
    opened = open_server(team.data_dir, team.database_url)
    with opened as server, pytest.raises(gates.ServerOnly):
        gates.decide_in(served.run_context(server, run_id), run_id, "approve", reviewer="bob")
    with team.client("bob") as api:
        approved = api.post(f"/runs/{run_id}/approvals", json={"decision": "approve"})
        assert approved.status_code == 200, approved.text
    done = wait_for(
        lambda: (s := run_state(team, run_id))["status"] == "completed" and s, "the deploy"
    )
    assert done["conclusion"] == "success"
    assert (out / "deploy").read_text() == VALUE
    with open_server(team.data_dir, team.database_url) as server:  # encrypted at rest
        rows, _ = server.store.secrets._execute("SELECT value FROM secrets", {})
    assert rows and all(VALUE not in str(row[0]) for row in rows)
