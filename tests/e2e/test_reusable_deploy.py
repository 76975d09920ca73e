"""The common deploy pipeline end to end: one reusable `deploy.yml` called for staging,
then for production, with the environments' rules applying inside the called jobs
(a monitor and an automatic rollback on staging, an approval on production, given by
`stageline approve` from another process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deploy_env import (
    Repo,
    by_name,
    deployments,
    environment,
    finish,
    kill,
    make_repo,
    monitor,
    show,
    stageline,
    start_run,
    wait_until,
    waiting_job,
)

pytestmark = pytest.mark.slow

CALLER = """\
name: Deliver
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo testing
  staging:
    needs: test
    uses: ./.github/workflows/deploy.yml
    with: {environment: staging}
    secrets: {token: "${{ secrets.DEPLOY_TOKEN }}"}
  production:
    needs: staging
    uses: ./.github/workflows/deploy.yml
    with: {environment: production}
    secrets: {token: "${{ secrets.DEPLOY_TOKEN }}"}
"""

DEPLOY = """\
name: Deploy
on:
  workflow_call:
    inputs:
      environment: {type: string, required: true}
    secrets:
      token: {required: true}
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: ${{ inputs.environment }}
    steps:
      - uses: actions/checkout@v4
      - run: |
          test "${{ secrets.token }}" = s3cret  # the call's mapping, a rollback's too
          if [ "${{ inputs.environment }}" = production ]; then
            export STATE_DIR="$STATE_DIR/production"; mkdir -p "$STATE_DIR"
          fi
          ./deploy.sh
"""


def production_gate(repo: Repo) -> dict[str, Any] | None:
    """Production's job once it waits (staging's waits first, in its bake window)."""
    job = waiting_job(repo)
    return job if job is not None and job["name"] == "production / deploy" else None


def rules(url: str, staging_extra: str = "") -> str:
    return (
        "environments:\n"
        f"  staging:\n    url: {url}\n{staging_extra}"
        "  production:\n    branches: [main]\n"
        "    approval:\n      rules:\n        - {reviewers: [bob], required: 1}\n"
    )


def test_staging_then_an_approved_production_through_one_called_workflow(
    tmp_path: Path,
) -> None:
    with environment(tmp_path) as service:
        config = rules(service.url, monitor(service))
        repo = make_repo(tmp_path, service.state, config, workflow=CALLER)
        (repo.path / ".github" / "workflows" / "deploy.yml").write_text(DEPLOY)
        repo.commit("v1")
        process = start_run(repo, "-s", "DEPLOY_TOKEN=s3cret")
        job = wait_until(lambda: production_gate(repo), what="production's gate", timeout=60)
        assert job["name"] == "production / deploy"
        assert job["environment"] == "production"
        assert "0 of 1 from bob" in job["waiting_for"]
        # staging was deployed and watched by its monitor before production waited
        assert repo.current() == "v1"
        [staged] = deployments(repo)
        assert (staged["environment"], staged["status"]) == ("staging", "success")

        approved = stageline(repo, "approve", "1", "--as", "bob")
        assert approved.returncode == 0, approved.stderr
        code, _out, err = finish(process)
        assert code == 0, err
        assert (repo.state / "production" / "current").read_text().strip() == "v1"

        document = show(repo)
        jobs = by_name(document)
        assert list(jobs) == ["test", "staging / deploy", "production / deploy"]
        assert jobs["staging / deploy"]["environment"] == "staging"
        assert jobs["production / deploy"]["environment"] == "production"
        staged, shipped = deployments(repo, cli=True)
        assert (shipped["environment"], shipped["status"]) == ("production", "success")
        assert shipped["approved_by"] == ["bob"]
        assert staged["environment"] == "staging"


def test_a_bad_release_is_rolled_back_on_staging_and_never_reaches_production(
    tmp_path: Path,
) -> None:
    with environment(tmp_path) as service:
        config = rules(service.url, monitor(service) + "    rollback: {mode: auto}\n")
        repo = make_repo(tmp_path, service.state, config, workflow=CALLER)
        (repo.path / ".github" / "workflows" / "deploy.yml").write_text(DEPLOY)
        repo.commit("v1")
        process = start_run(repo, "-s", "DEPLOY_TOKEN=s3cret")
        wait_until(lambda: production_gate(repo), what="production's gate", timeout=60)
        assert stageline(repo, "approve", "1", "--as", "bob").returncode == 0
        code, _out, err = finish(process)
        assert code == 0, err

        repo.commit("v2-bad")
        code, _out, err = finish(start_run(repo, "-s", "DEPLOY_TOKEN=s3cret"))
        assert code == 1, err
        assert repo.current() == "v1"  # staging restored by re-running its called job
        assert repo.deploys()[-2:] == ["v2-bad rollback=false", "v1 rollback=true"]
        jobs = by_name(show(repo, 2))
        assert jobs["staging / deploy"]["conclusion"] == "failure"
        assert "staging rolled back to deployment #1" in jobs["staging / deploy"]["reason"]
        assert jobs["production / deploy"]["conclusion"] == "skipped"
        assert (repo.state / "production" / "current").read_text().strip() == "v1"


def test_a_run_killed_at_productions_gate_resumes_with_stagings_call_kept(
    tmp_path: Path,
) -> None:
    with environment(tmp_path) as service:
        repo = make_repo(tmp_path, service.state, rules(service.url), workflow=CALLER)
        (repo.path / ".github" / "workflows" / "deploy.yml").write_text(DEPLOY)
        repo.commit("v1")
        process = start_run(repo, "-s", "DEPLOY_TOKEN=s3cret")
        wait_until(lambda: production_gate(repo), what="production's gate", timeout=60)
        kill(process)
        staged = by_name(show(repo))["staging / deploy"]
        assert staged["conclusion"] == "success"

        assert stageline(repo, "approve", "1", "--as", "bob").returncode == 0
        done = stageline(repo, "resume", "1", "--secret", "DEPLOY_TOKEN=s3cret")
        assert done.returncode == 0, done.stderr
        jobs = by_name(show(repo))
        assert jobs["staging / deploy"]["started_at"] == staged["started_at"]  # kept
        assert jobs["production / deploy"]["conclusion"] == "success"
        assert jobs["production / deploy"]["environment"] == "production"
        assert (repo.state / "production" / "current").read_text().strip() == "v1"
        assert repo.deploys() == ["v1 rollback=false"]  # staging deployed once
        production_log = repo.state / "production" / "deploys.log"
        assert production_log.read_text().splitlines() == ["v1 rollback=false"]
