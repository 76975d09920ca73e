"""Run setup on real repositories: events, workflow selection, validation before running."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stageline.engine.gitinfo import git_facts
from stageline.engine.setup import (
    RunOptions,
    build_event,
    parse_pairs,
    prepare,
    run_environment,
)
from stageline.errors import ConfigError, RunError, WorkflowError

CI = """\
name: CI
on:
  push:
    branches: [main]
  pull_request:
    branches: [main]
  workflow_dispatch:
    inputs:
      level: {default: normal}
env:
  WHO: ${{ github.actor }}-${{ vars.SUFFIX }}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo build
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        os: [linux, mac]
    steps:
      - run: echo test
"""


def repo(tmp_path: Path, files: dict[str, str], branch: str = "main") -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for args in (
        ["init", "-q", "-b", branch],
        ["config", "user.name", "Carol"],
        ["remote", "add", "origin", "https://github.com/acme/shop.git"],
        ["add", "-A"],
        ["-c", "user.email=c@x", "commit", "-q", "-m", "one"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def test_parse_pairs() -> None:
    assert parse_pairs(["a=1", "b=x=y"], "--var") == {"a": "1", "b": "x=y"}
    assert parse_pairs(["os:linux"], "--matrix", ":") == {"os": "linux"}
    with pytest.raises(ConfigError, match="--var expects KEY=VALUE"):
        parse_pairs(["novalue"], "--var")


def test_a_push_event_from_the_repository(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI, "src/app.py": "x = 1\n"})
    event = build_event(RunOptions(cwd=root), git_facts(root))
    assert (event.name, event.ref, event.actor, event.repository) == (
        "push",
        "refs/heads/main",
        "Carol",
        "acme/shop",
    )
    assert event.payload["after"] == event.sha
    assert event.payload["repository"]["full_name"] == "acme/shop"
    assert sorted(event.changed_paths or []) == [".github/workflows/ci.yml", "src/app.py"]


def test_pull_request_and_payload_file(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI}, branch="feature/x")
    event = build_event(RunOptions(cwd=root, event="pull_request"), git_facts(root))
    assert event.ref == "refs/pull/1/merge"
    assert event.payload["pull_request"]["base"]["ref"] == "main"
    assert event.payload["pull_request"]["head"]["ref"] == "feature/x"
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"number": 42, "pull_request": {"base": {"ref": "dev"}}}))
    options = RunOptions(cwd=root, event="pull_request", event_path=payload)
    event = build_event(options, git_facts(root))
    assert event.ref == "refs/pull/42/merge"
    assert event.payload["pull_request"]["base"]["ref"] == "dev"


def test_prepare_selects_compiles_and_evaluates_env(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI})
    prepared = prepare(RunOptions(cwd=root, vars={"SUFFIX": "x"}, matrix={"os": "mac"}))
    (spec,) = prepared.specs
    assert [j.key for j in spec.plan.jobs] == ["build", "test.2"]
    assert spec.contexts["env"] == {"WHO": "Carol-x"}
    assert prepared.notes == [
        ".github/workflows/ci.yml: event 'push' matches the workflow's filters"
    ]


def test_dispatch_inputs_get_their_defaults(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI})
    (spec,) = prepare(RunOptions(cwd=root, event="workflow_dispatch")).specs
    assert spec.contexts["inputs"] == {"level": "normal"}
    (spec,) = prepare(
        RunOptions(cwd=root, event="workflow_dispatch", inputs={"level": "high"})
    ).specs
    assert spec.contexts["inputs"] == {"level": "high"}


def test_no_matching_workflow_says_why(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI}, branch="feature/x")
    with pytest.raises(RunError) as caught:
        prepare(RunOptions(cwd=root))
    message = str(caught.value)
    assert "no workflow runs on push to feature/x" in message
    assert "ci.yml" in message and "feature/x" in message


def test_unknown_job_and_unknown_workflow(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI})
    with pytest.raises(RunError, match="has no job deploy"):
        prepare(RunOptions(cwd=root, jobs=["deploy"]))
    with pytest.raises(RunError, match="no workflow 'nope'"):
        prepare(RunOptions(cwd=root, workflow="nope"))


def test_actions_that_cannot_run_here_fail_validation_with_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_OFFLINE", "1")  # an action not in the cache: no network
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text = CI.replace("      - run: echo build\n", "      - uses: acme/deployer@v9\n")
    root = repo(tmp_path, {".github/workflows/ci.yml": text})
    with pytest.raises(WorkflowError) as caught:
        prepare(RunOptions(cwd=root))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.position is not None
    assert (diagnostic.position.path, diagnostic.position.line) == (".github/workflows/ci.yml", 16)
    assert "acme/deployer@v9" in diagnostic.message


def test_an_invalid_workflow_stops_everything(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        {".github/workflows/ci.yml": CI, ".github/workflows/bad.yml": "on: push\njobs: 3\n"},
    )
    with pytest.raises(WorkflowError) as caught:
        prepare(RunOptions(cwd=root))
    assert all(d.position and d.position.path.endswith("bad.yml") for d in caught.value.diagnostics)


def test_secret_and_env_files(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI})
    (root / ".secrets").write_text('TOKEN="abc"\nexport OTHER=def\n')
    (root / ".env").write_text("# comment\nREGION=eu\n")
    (spec,) = prepare(RunOptions(cwd=root, secrets={"OTHER": "cli"}, env={"X": "1"})).specs
    assert spec.secrets == {"TOKEN": "abc", "OTHER": "cli"}
    assert spec.extra_env == {"REGION": "eu", "X": "1"}
    with pytest.raises(ConfigError, match="does not exist"):
        prepare(RunOptions(cwd=root, secret_file=root / "missing"))


def test_run_environment_is_what_a_run_gives_its_jobs(tmp_path: Path) -> None:
    """A resume or a rollback rebuilds it without a workflow: the repository's files, then
    the pairs given; action directories under `.stageline/actions`."""
    assert run_environment(tmp_path) == run_environment(tmp_path, secrets={}, env={})
    (tmp_path / ".secrets").write_text("TOKEN=abc\n")
    (tmp_path / ".env").write_text("REGION=eu\n")
    (tmp_path / "other.env").write_text("REGION=us\n")
    given = run_environment(tmp_path, env_file=tmp_path / "other.env", secrets={"X": "1"})
    assert (given.secrets, given.extra_env) == ({"TOKEN": "abc", "X": "1"}, {"REGION": "us"})
    assert given.action_dirs == [str(tmp_path / ".stageline" / "actions")]
    assert "abc" not in repr(given)
