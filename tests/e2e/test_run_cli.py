"""`stageline run`, `runs`, `show`, `logs` driven as a user drives them: a real git
repository in a temp dir, `python -m stageline` as a subprocess, the local executor."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import cli
from tests.support.git import git

pytestmark = pytest.mark.slow

IDENTITY = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com"]


def make_repo(root: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A committed git repository holding `files` (paths relative to its root)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
    git(root, "init", "-q", "-b", branch)
    git(root, "config", "user.name", "Alice")  # github.actor defaults to it
    git(root, "remote", "add", "origin", "git@github.com:acme/shop.git")
    git(root, "add", "-A")
    git(root, *IDENTITY, "commit", "-q", "-m", "initial")
    return root


def stageline(
    repo: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return cli.stageline(repo, *args, env=env, timeout=timeout)


def run_json(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = stageline(repo, "run", "--json", *args)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["name"]: job for job in document["jobs"]}


WORKFLOW = """\
name: Pipeline
on: [push, workflow_dispatch]
env:
  GREETING: hello ${{ github.actor }}
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - id: v
        run: echo "version=1.${{ github.run_number }}" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - run: echo "shard ${{ matrix.shard }} of ${{ needs.build.outputs.version }}; $GREETING"
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint ${{ inputs.level }} ${{ vars.FLAVOUR }}"
  release:
    needs: [test, lint]
    if: github.ref_name == 'main'
    runs-on: ubuntu-latest
    steps:
      - run: echo releasing
"""


def test_json_document_reports_every_job(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW})
    code, document = run_json(repo, "--var", "FLAVOUR=vanilla")
    assert code == 0
    assert document["number"] == 1 and document["event"] == "push"
    jobs = {job["key"]: job for job in document["jobs"]}
    assert set(jobs) == {"build", "test.1", "test.2", "lint", "release"}
    assert jobs["build"]["outputs"] == {"version": "1.1"}
    assert [jobs[k]["matrix"] for k in ("test.1", "test.2")] == [{"shard": 1}, {"shard": 2}]
    assert all(j["started_at"] and j["finished_at"] for j in jobs.values())
    logs = stageline(repo, "logs", str(document["run_id"]), "test").stdout
    assert "shard 1 of 1.1; hello Alice" in logs and "shard 2 of 1.1" in logs
    lint = stageline(repo, "logs", str(document["run_id"]), "lint").stdout
    assert "lint  vanilla" in lint


def test_job_option_runs_that_job_and_what_it_needs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW})
    code, document = run_json(repo, "--job", "test")
    assert code == 0
    assert sorted(j["key"] for j in document["jobs"]) == ["build", "test.1", "test.2"]


def test_event_inputs_and_ref_options(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW})
    code, document = run_json(
        repo, "--event", "workflow_dispatch", "--input", "level=strict", "--ref", "develop"
    )
    assert code == 0
    jobs = by_name(document)
    assert jobs["release"]["conclusion"] == "skipped"  # ref_name is develop
    assert document["ref"] == "refs/heads/develop"
    lint = stageline(repo, "logs", str(document["run_id"]), "lint").stdout
    assert "lint strict" in lint


def test_a_failing_step_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    workflow = WORKFLOW.replace('echo "lint ', 'exit 3; echo "lint ')
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    code, document = run_json(repo)
    assert code == 1
    jobs = by_name(document)
    assert jobs["lint"]["conclusion"] == "failure"
    assert jobs["release"]["conclusion"] == "skipped"
    shown = stageline(repo, "show", str(document["run_id"]), "--json")
    detail = json.loads(shown.stdout)
    lint = next(j for j in detail["jobs"] if j["name"] == "lint")
    assert lint["steps"][0]["conclusion"] == "failure"
    assert lint["steps"][0]["exit_code"] == 3
    assert any(a["level"] == "error" for a in detail["annotations"])


def test_an_unknown_action_stops_the_run_before_anything_executes(tmp_path: Path) -> None:
    workflow = WORKFLOW.replace(
        "      - id: v\n", "      - uses: someone/unknown-action@v1\n      - id: v\n"
    )
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    offline = {"STAGELINE_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = stageline(repo, "run", env=offline)
    assert done.returncode == 1
    assert ".github/workflows/ci.yml:" in done.stderr
    assert "someone/unknown-action@v1" in done.stderr
    assert not (repo / ".stageline" / "stageline.db").exists()


def test_secrets_and_env_files_are_read_as_dotenv(tmp_path: Path) -> None:
    workflow = """\
on: push
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "token=${{ secrets.API_TOKEN }} region=$REGION"
"""
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": workflow})
    (repo / ".secrets").write_text("API_TOKEN='s3cr3t-value'\n")
    (tmp_path / "extra.env").write_text("REGION=eu-west\n")
    code, document = run_json(repo, "--env-file", str(tmp_path / "extra.env"))
    assert code == 0
    logs = stageline(repo, "logs", str(document["run_id"])).stdout
    assert "region=eu-west" in logs
    assert "s3cr3t-value" not in logs and "token=***" in logs


def test_runs_lists_newest_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".github/workflows/ci.yml": WORKFLOW})
    for _ in range(2):
        assert stageline(repo, "run", "--job", "lint").returncode == 0
    listed = json.loads(stageline(repo, "runs", "--json").stdout)
    assert [r["number"] for r in listed] == [2, 1]
    assert all(r["conclusion"] == "success" for r in listed)
    text = stageline(repo, "runs").stdout
    assert "Pipeline" in text and "success" in text
    shown = stageline(repo, "show", str(listed[0]["id"]))
    assert shown.returncode == 0 and "lint" in shown.stdout
    missing = stageline(repo, "show", "999")
    assert missing.returncode == 1 and "no run 999" in missing.stderr


ACT_HABITS = """\
name: Habits
on:
  push:
  workflow_dispatch:
    inputs:
      dry: {type: boolean, default: false}
      count: {type: number, default: 1}
env:
  REGION: workflow
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - name: announce
        if: env.DEPLOY == 'yes'
        run: echo "deploy=${{ env.DEPLOY }} region=${{ env.REGION }} file=${{ env.FROM_FILE }}"
      - uses: ./.github/actions/say
        with:
          message: said ${{ env.DEPLOY }}
      - name: show inputs
        run: >-
          echo 'dry=${{ toJSON(inputs.dry) }} count=${{ toJSON(inputs.count) }}
          event=${{ toJSON(github.event.inputs.dry) }}'
  test:
    needs: check
    runs-on: ubuntu-latest
    strategy:
      matrix:
        py: ["3.10", "3.11", "3.12"]
    steps:
      - name: py
        run: echo "py ${{ matrix.py }}"
"""

SAY = """\
name: say
inputs:
  message: {required: true}
runs:
  using: composite
  steps:
    - run: echo "action ${{ inputs.message }}"
      shell: bash
"""


def habits_repo(tmp_path: Path) -> Path:
    files = {".github/workflows/ci.yml": ACT_HABITS, ".github/actions/say/action.yml": SAY}
    return make_repo(tmp_path / "app", files)


def test_env_values_are_in_the_env_context_of_if_run_and_with(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    (tmp_path / "vars.env").write_text("FROM_FILE=dotenv\nREGION=file\n")
    done = stageline(
        repo, "run", "-j", "check", "--env", "DEPLOY=yes", "--env-file", str(tmp_path / "vars.env")
    )
    assert done.returncode == 0, done.stderr
    assert "deploy=yes region=workflow file=dotenv" in done.stdout
    assert "action said yes" in done.stdout


def test_inputs_come_from_the_event_payload_typed_and_input_wins(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"inputs": {"dry": "true", "count": "1"}}))
    done = stageline(
        repo, "run", "--event", "workflow_dispatch", "-e", str(payload), "--input", "count=41"
    )
    assert done.returncode == 0, done.stderr
    assert 'dry=true count=41 event="true"' in done.stdout
    bad = stageline(repo, "run", "--event", "workflow_dispatch", "--input", "dry=maybe")
    assert bad.returncode == 1
    assert "input 'dry' is a boolean, got 'maybe'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_matrix_key_repeated_runs_the_legs_with_any_of_its_values(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    code, document = run_json(repo, "--matrix", "py:3.10", "--matrix", "py:3.12")
    assert code == 0
    legs = sorted(j["name"] for j in document["jobs"] if j["name"].startswith("test"))
    assert legs == ["test (3.10)", "test (3.12)"]


def test_list_prints_the_jobs_by_stage_and_runs_nothing(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    done = stageline(repo, "run", "-l")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = "Stage  Job ID  Job name  Workflow name  Workflow file             Events"
    assert lines[0] == header
    assert lines[1].split() == [
        "0",
        "check",
        "check",
        "Habits",
        ".github/workflows/ci.yml",
        "push,workflow_dispatch",
    ]
    assert lines[2].split()[:3] == ["1", "test", "test"]
    assert not (repo / ".stageline").exists()
    pushed = stageline(repo, "run", "--list", "--event", "release")
    assert pushed.returncode == 1 and "no workflow runs on release" in pushed.stderr


def test_dryrun_plans_and_prints_without_running_or_recording(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    done = stageline(repo, "run", "-n", "--matrix", "py:3.11")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        ".github/workflows/ci.yml (Habits): would run on push",
        "  stage 1",
        "    check",
        "      - announce",
        "      - Run ./.github/actions/say",
        "      - show inputs",
        "  stage 2",
        "    test (3.11)",
        "      - py",
    ]
    assert not (repo / ".stageline").exists()


def test_graph_prints_the_graph_as_the_graph_command(tmp_path: Path) -> None:
    repo = habits_repo(tmp_path)
    done = stageline(repo, "run", "-g")
    assert done.returncode == 0, done.stderr
    assert done.stdout == stageline(repo, "graph").stdout
    assert "check" in done.stdout and "test" in done.stdout


def test_workflows_option_and_short_secret(tmp_path: Path) -> None:
    other = (
        ACT_HABITS.replace("name: Habits", "name: Elsewhere")
        .replace("deploy=${{ env.DEPLOY }}", "token=${{ secrets.TOKEN == 's3' }}")
        .replace("env.DEPLOY == 'yes'", "true")
    )
    repo = habits_repo(tmp_path)
    (repo / "flows").mkdir()
    (repo / "flows/other.yml").write_text(other)
    code, document = run_json(repo, "-W", "flows", "-j", "check", "-s", "TOKEN=s3")
    assert code == 0
    assert document["workflow"] == "Elsewhere"
    logs = stageline(repo, "logs", str(document["run_id"]), "check").stdout
    assert "token=true region=workflow" in logs


KEYS = """\
on: push
env:
  ${{ insert }}: ${{ fromJSON('{"FROM_INSERT":"top"}') }}
jobs:
  setup:
    runs-on: ubuntu-latest
    outputs:
      axis: ${{ steps.s.outputs.axis }}
      extra: ${{ steps.s.outputs.extra }}
    steps:
      - id: s
        run: |
          echo 'axis=flavour' >> "$GITHUB_OUTPUT"
          echo 'extra={"size": ["s", "m"]}' >> "$GITHUB_OUTPUT"
  build:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix:
        ${{ needs.setup.outputs.axis }}: [vanilla, mint]
        ${{ insert }}: ${{ fromJSON(needs.setup.outputs.extra) }}
    env:
      ${{ insert }}: ${{ fromJSON(vars.JOB_ENV) }}
    steps:
      - uses: ./.github/actions/say
        with:
          ${{ insert }}: ${{ fromJSON(format('{{"message":"{0}"}}', matrix.flavour)) }}
      - run: echo "leg ${{ matrix.flavour }}/${{ matrix.size }} $FROM_INSERT $JOB_INSERT"
"""


def test_expression_keys_and_insert_in_matrix_env_and_with(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": KEYS, ".github/actions/say/action.yml": SAY}
    repo = make_repo(tmp_path / "app", files)
    code, document = run_json(repo, "--var", 'JOB_ENV={"JOB_INSERT": "job"}')
    assert code == 0, document
    legs = sorted(j["name"] for j in document["jobs"] if j["name"].startswith("build"))
    assert legs == [
        "build (mint, m)",
        "build (mint, s)",
        "build (vanilla, m)",
        "build (vanilla, s)",
    ]
    logs = stageline(repo, "logs", str(document["run_id"]), "build (mint, s)").stdout
    assert "action mint" in logs
    assert "leg mint/s top job" in logs
