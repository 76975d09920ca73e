"""Reusable workflows end to end: `stageline run` on a real repository whose pipeline
calls a local `deploy.yml` twice; the called jobs run as real processes, named
``caller / job`` in the live output, `--json`, `show` and `logs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import by_name, make_repo, run_json, stageline

pytestmark = pytest.mark.slow

DEPLOY = """\
name: Deploy
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
      replicas: {type: number, default: 2}
      dry: {type: boolean, default: false}
    secrets:
      token: {required: true}
    outputs:
      url:
        value: ${{ jobs.ship.outputs.url }}
env:
  WHERE: ${{ inputs.target }}
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{ steps.b.outputs.a }}
    steps:
      - id: b
        run: echo "a=app-${{ inputs.target }}-${{ inputs.replicas }}" >> "$GITHUB_OUTPUT"
  ship:
    needs: build
    runs-on: ubuntu-latest
    outputs:
      url: ${{ steps.s.outputs.url }}
    steps:
      - id: s
        run: |
          echo "ship ${{ needs.build.outputs.artifact }} dry=${{ inputs.dry }} to $WHERE"
          echo "job $GITHUB_JOB"
          echo "token ${{ secrets.token }}"
          test "${{ secrets.token }}" = "s3cret"
          echo "url=https://${{ inputs.target }}.example" >> "$GITHUB_OUTPUT"
"""

CI = """\
name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps: [{run: echo test}]
  staging:
    needs: test
    uses: ./.github/workflows/deploy.yml
    with: {target: staging, replicas: 3}
    secrets: {token: "${{ secrets.DEPLOY_TOKEN }}"}
  production:
    name: Production
    needs: staging
    uses: ./.github/workflows/deploy.yml
    with:
      target: production
      dry: ${{ github.ref_name != 'main' }}
    secrets: inherit
  report:
    needs: [staging, production]
    runs-on: ubuntu-latest
    steps:
      - run: echo "urls ${{ needs.staging.outputs.url }} ${{ needs.production.outputs.url }}"
"""


def test_a_pipeline_calling_deploy_twice_runs_and_names_jobs_like_github(
    tmp_path: Path,
) -> None:
    files = {".github/workflows/ci.yml": CI, ".github/workflows/deploy.yml": DEPLOY}
    repo = make_repo(tmp_path / "app", files)
    code, document = run_json(repo, "ci.yml", "-s", "DEPLOY_TOKEN=s3cret", "-s", "token=s3cret")
    assert code == 0, document
    jobs = by_name(document)
    assert list(jobs) == [
        "test",
        "staging / build",
        "staging / ship",
        "Production / build",
        "Production / ship",
        "report",
    ]
    assert jobs["Production / ship"]["key"] == "production / ship"
    assert jobs["staging / ship"]["outputs"] == {"url": "https://staging.example"}
    assert all(job["conclusion"] == "success" for job in jobs.values())
    run_id = str(document["run_id"])

    logs = stageline(repo, "logs", run_id, "staging / ship").stdout
    assert "ship app-staging-3 dry=false to staging" in logs
    assert "job ship" in logs
    assert "token ***" in logs and "s3cret" not in logs
    prod = stageline(repo, "logs", run_id, "production / ship").stdout
    assert "ship app-production-2 dry=false to production" in prod
    report = stageline(repo, "logs", run_id, "report").stdout
    assert "urls https://staging.example https://production.example" in report

    shown = json.loads(stageline(repo, "show", run_id, "--json").stdout)
    assert [j["name"] for j in shown["jobs"]] == list(jobs)
    text = stageline(repo, "show", run_id).stdout
    assert "Production / ship" in text and "staging / build" in text


def test_a_call_the_callee_refuses_stops_before_the_run(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yml": CI.replace("target: staging, ", "targt: staging, "),
        ".github/workflows/deploy.yml": DEPLOY,
    }
    repo = make_repo(tmp_path / "app", files)
    done = stageline(repo, "run", "ci.yml")
    assert done.returncode == 1
    assert (
        ".github/workflows/ci.yml:10:19: error: job 'staging' passes unknown input" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert "no runs recorded yet" in stageline(repo, "runs").stderr
