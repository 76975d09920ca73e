"""A job's `services:` without Docker: `.stageline.yml` maps the workflow's `postgres`
service to the PostgreSQL already running at 127.0.0.1:5432, and the job's steps reach
it through `job.services.postgres.ports` as they would on GitHub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import make_repo
from tests.support.cli import stageline

pytestmark = [pytest.mark.slow, pytest.mark.services]

WORKFLOW = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:15
        env: {POSTGRES_PASSWORD: postgres}
        ports: ["5432:5432"]
    steps:
      - run: pg_isready -h localhost -p ${{ job.services.postgres.ports[5432] }}
      - run: >-
          psql -h ${{ job.services.postgres.host }} -U postgres -d postgres -tA
          -p ${{ job.services.postgres.ports['5432'] }} -c 'select 40 + 2'
"""

MAPPING = "services:\n  postgres: {host: 127.0.0.1, port: 5432}\n"


def test_a_job_reaches_its_mapped_service_on_this_machine(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": WORKFLOW, ".stageline.yml": MAPPING}
    repo = make_repo(tmp_path / "app", files)
    done = stageline(repo, "run", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "not supported" not in done.stderr
    (job,) = json.loads(done.stdout)["jobs"]
    assert job["conclusion"] == "success"
    logs = stageline(repo, "logs", str(json.loads(done.stdout)["run_id"]), "test").stdout
    assert "localhost:5432 - accepting connections" in logs
    assert "42" in logs.split()


def test_an_unmapped_service_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW})
    done = stageline(repo, "run")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        ".github/workflows/ci.yml:6:7: error: job 'test' needs service 'postgres', which is "
        "not mapped to a service running on this machine (Stageline runs no service containers)"
        "\n  hint: map it in .stageline.yml: services: {postgres: {host: 127.0.0.1, port: PORT}}"
    )
    assert not (repo / ".stageline" / "stageline.db").exists()


def test_a_bad_mapping_is_reported_in_the_configuration(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yml": WORKFLOW,
        ".stageline.yml": "services:\n  postgres: {host: 127.0.0.1, prot: 5432}\n",
    }
    repo = make_repo(tmp_path / "app", files)
    done = stageline(repo, "run")
    assert done.returncode == 1
    expected = f"{repo}/.stageline.yml:2:31: error: unknown key 'prot' in services.postgres"
    assert expected in done.stderr
    assert not (repo / ".stageline" / "stageline.db").exists()
