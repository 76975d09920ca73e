"""The article's multi-stage workflow (fixtures/multi-stage.yml, a verbatim copy of
../shared/examples/multi-stage.yml) runs unchanged with `stageline run`.

The repository around it is what the workflow expects: a `package.json` whose `build`
and `test` scripts use `node -e` (no dependencies to install) and the two deploy scripts.
The deploy scripts append to a file outside the repository, which proves they ran, and
in which order, independently of Stageline's own record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None, reason="the workflow's steps run npm"),
]

FIXTURE = Path(__file__).parent / "fixtures" / "multi-stage.yml"
ORDER = ["build", "test", "deploy-staging", "approval", "deploy-production"]
IDENTITY = ["-c", "user.name=Stageline Tests", "-c", "user.email=tests@stageline.invalid"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True)


def make_repo(root: Path, deploy_log: Path, test_exit: int = 0) -> Path:
    repo = root / "app"
    (repo / ".github/workflows").mkdir(parents=True)
    shutil.copyfile(FIXTURE, repo / ".github/workflows/ci.yml")
    scripts = {
        "build": "node -e \"require('fs').writeFileSync('build.txt', 'built')\"",
        "test": f"node -e \"console.log('tests ran'); process.exit({test_exit})\"",
    }
    (repo / "package.json").write_text(
        json.dumps({"name": "app", "version": "1.0.0", "private": True, "scripts": scripts})
    )
    for env in ("staging", "production"):
        script = repo / f"deploy-{env}.sh"
        script.write_text(f'#!/bin/sh\nset -e\necho "{env}" >> "{deploy_log}"\n')
        script.chmod(0o755)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "app")
    return repo


def stageline(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    return subprocess.run(
        [sys.executable, "-m", "stageline", "run", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def jobs_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The run's jobs by job id, whether `jobs` is a mapping or a list."""
    jobs = document["jobs"]
    if isinstance(jobs, dict):
        return {job.get("job_id", key): job for key, job in jobs.items()}
    return {job.get("job_id", job.get("key")): job for job in jobs}


def moment(value: str | float) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone()
    return datetime.fromisoformat(value)


def test_on_main_every_stage_runs_in_order(tmp_path: Path) -> None:
    deploys = tmp_path / "deploys.log"
    repo = make_repo(tmp_path, deploys)

    done = stageline(repo, "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["status"] in ("completed", "success")
    jobs = jobs_of(document)
    assert sorted(jobs) == sorted(ORDER)
    assert {job["conclusion"] for job in jobs.values()} == {"success"}
    for before, after in pairwise(ORDER):
        assert moment(jobs[before]["finished_at"]) <= moment(jobs[after]["started_at"]), (
            f"{after} started before {before} finished"
        )
    assert deploys.read_text().split() == ["staging", "production"]


def test_on_a_feature_branch_the_workflow_does_not_run_and_says_why(tmp_path: Path) -> None:
    deploys = tmp_path / "deploys.log"
    repo = make_repo(tmp_path, deploys)
    git(repo, "checkout", "-q", "-b", "feature/x")

    done = stageline(repo)

    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "feature/x" in said, said
    # The reason names the workflow and the branch filter it failed.
    assert "ci.yml" in said and "develop" in said and "main" in said, said
    assert "Traceback" not in said
    assert not deploys.exists()


def test_when_npm_test_fails_the_deploys_are_skipped(tmp_path: Path) -> None:
    deploys = tmp_path / "deploys.log"
    repo = make_repo(tmp_path, deploys, test_exit=1)

    done = stageline(repo, "--json")

    assert done.returncode == 1, done.stdout + done.stderr
    jobs = jobs_of(json.loads(done.stdout))
    assert jobs["build"]["conclusion"] == "success"
    assert jobs["test"]["conclusion"] == "failure"
    for deploy in ("deploy-staging", "approval", "deploy-production"):
        assert jobs[deploy]["conclusion"] == "skipped", deploy
    assert not deploys.exists()
