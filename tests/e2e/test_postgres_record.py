"""The article's multi-stage workflow recorded into PostgreSQL: `STAGELINE_DATABASE_URL`
(or `--database-url`) points `stageline run` at a fresh database, and `stageline runs` /
`show` / `logs` read it back from there (no SQLite file is written; step logs stay files
under the store's home)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.store import open_store
from tests.e2e.test_multi_stage_example import ORDER, jobs_of, make_repo
from tests.e2e.test_run_cli import make_repo as make_cli_repo
from tests.support.cli import stageline as cli
from tests.support.postgres import fresh_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("npm") is None, reason="the workflow's steps run npm"),
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def stageline(repo: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["STAGELINE_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_run_recorded_in_postgresql_is_listed_from_it(tmp_path: Path, pg_url: str) -> None:
    deploys = tmp_path / "deploys.log"
    repo = make_repo(tmp_path, deploys)

    done = stageline(repo, pg_url, "run", "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    jobs = jobs_of(json.loads(done.stdout))
    assert sorted(jobs) == sorted(ORDER)
    assert {job["conclusion"] for job in jobs.values()} == {"success"}
    assert deploys.read_text().split() == ["staging", "production"]
    assert not (repo / ".stageline" / "stageline.db").exists()
    assert list((repo / ".stageline" / "logs").rglob("*.log"))  # logs stay files

    listed = stageline(repo, pg_url, "runs", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    [run] = json.loads(listed.stdout)
    assert (run["number"], run["conclusion"]) == (1, "success")

    with open_store(tmp_path / "elsewhere", pg_url) as store:  # the record is the database
        [record] = store.runs.list_runs()
        assert sorted(j.job_id for j in store.runs.get_run(record.id).jobs) == sorted(ORDER)


def test_an_unreachable_database_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, tmp_path / "deploys.log")
    done = stageline(repo, "postgresql+psycopg://postgres@127.0.0.1:9/none", "runs")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "cannot open the record at postgresql+psycopg://postgres@127.0.0.1:9/none" in done.stderr


def test_the_database_url_option_records_and_reads_without_the_environment(
    tmp_path: Path, pg_url: str
) -> None:
    """`--database-url` on each command, STAGELINE_DATABASE_URL unset."""
    repo = make_plain_repo(tmp_path / "app")
    done = cli(repo, "run", "--json", "--database-url", pg_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (repo / ".stageline" / "stageline.db").exists()

    without = cli(repo, "runs")
    assert without.returncode == 1 and "no runs recorded yet" in without.stderr

    listed = cli(repo, "runs", "--json", "--database-url", pg_url)
    assert [r["conclusion"] for r in json.loads(listed.stdout)] == ["success"]
    shown = cli(repo, "show", "1", "--json", "--database-url", pg_url)
    assert [j["job_id"] for j in json.loads(shown.stdout)["jobs"]] == ["hello"]
    logs = cli(repo, "logs", "1", "--database-url", pg_url)
    assert "hello from postgres" in logs.stdout


def make_plain_repo(path: Path) -> Path:
    workflow = (
        "on: push\njobs:\n  hello:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo hello from postgres\n"
    )
    return make_cli_repo(path, {".github/workflows/ci.yml": workflow})
