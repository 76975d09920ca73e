"""`stageline deployments`, `environments` and `rollback` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stageline.store import open_store
from tests.support.cli import stageline

CONFIG = """environments:
  staging:
    url: http://127.0.0.1:8081
    branches: [main]
    monitor:
      duration: 1s
      checks: [{name: health, http: {url: http://127.0.0.1:8081/health}}]
    rollback: {mode: manual}
  production:
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    import subprocess

    root = tmp_path / "repo"
    root.mkdir()
    (root / ".stageline.yml").write_text(CONFIG)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    with open_store(root / ".stageline") as store:
        for status in ("inactive", "success"):
            store.deployments.create_deployment(
                repo_path=str(root),
                environment="staging",
                sha=f"{status[0]}" * 40,
                ref="refs/heads/main",
                triggered_by="alice",
                approved_by=["bob"],
                status=status,
            )
    return root


def test_deployments_newest_first_as_json_and_table(repo: Path) -> None:
    done = stageline(repo, "deployments", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(d["id"], d["status"], d["sha"][:1]) for d in listed] == [
        (2, "success", "s"),
        (1, "inactive", "i"),
    ]
    assert listed[0]["approved_by"] == ["bob"]
    table = stageline(repo, "deployments", "staging").stdout
    assert table.splitlines()[1].split()[:4] == ["2", "staging", "success", "sssssss"]
    assert stageline(repo, "deployments", "production").stdout == "no deployments\n"


def test_environments_show_rules_and_what_is_deployed(repo: Path) -> None:
    done = stageline(repo, "environments", "--json")
    assert done.returncode == 0, done.stderr
    staging, production = json.loads(done.stdout)
    assert (staging["name"], staging["current"], staging["branches"]) == ("staging", 2, ["main"])
    assert (staging["monitor"], staging["rollback"]) == (["health"], "manual")
    assert (production["name"], production["current"]) == ("production", None)
    text = stageline(repo, "environments").stdout
    assert text.startswith("staging: #2 (sssssss) deployed at http://127.0.0.1:8081\n")
    assert "production: nothing deployed\n" in text


def test_rollback_refuses_what_it_cannot_do(repo: Path) -> None:
    nothing = stageline(repo, "rollback", "production")
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("error: nothing is deployed to production")
    no_run = stageline(repo, "rollback", "staging")
    assert no_run.returncode == 1
    assert no_run.stderr.startswith(
        "error: cannot roll back staging to deployment #1: deployment #1 has no recorded run"
    )
    assert "nothing was changed" in no_run.stderr
    with open_store(repo / ".stageline") as store:
        [record] = store.deployments.list_rollbacks()
        assert (record.status, record.replaces, record.restores) == ("failure", 2, 1)
        statuses = [d.status for d in store.deployments.list_deployments()]
    assert statuses == ["inactive", "success"]  # untouched
