"""`environment.url` is evaluated after the job, as GitHub does, and recorded on the
deployment (issue 12, item 9)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import stageline

WORKFLOW = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment:
      name: staging
      url: ${{ steps.deploy.outputs.url }}/app
    steps:
      - id: deploy
        run: echo "url=http://127.0.0.1:$((40000 + 123))" >> "$GITHUB_OUTPUT"
"""


@pytest.mark.slow
def test_deployments_show_the_url_the_job_produced(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "deploy.yml").write_text(WORKFLOW)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "dev@example.com"],
        ["config", "user.name", "Dev"],
        ["add", "-A"],
        ["commit", "-q", "-m", "deploy"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    ran = stageline(repo, "run")
    assert ran.returncode == 0, ran.stderr
    listed = stageline(repo, "deployments", "--json")
    assert listed.returncode == 0, listed.stderr
    [deployment] = json.loads(listed.stdout)
    assert deployment["environment"] == "staging"
    assert deployment["status"] == "success"
    assert deployment["url"] == "http://127.0.0.1:40123/app"
