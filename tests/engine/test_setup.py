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
    list_jobs,
    parse_matrix,
    parse_pairs,
    prepare,
    run_environment,
    select,
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
    prepared = prepare(RunOptions(cwd=root, vars={"SUFFIX": "x"}, matrix={"os": ["mac"]}))
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


def test_a_matrix_key_given_again_adds_a_value() -> None:
    assert parse_matrix(["os:linux", "py:3.12", "os:mac"]) == {
        "os": ["linux", "mac"],
        "py": ["3.12"],
    }
    with pytest.raises(ConfigError, match="--matrix expects KEY:VALUE"):
        parse_matrix(["os"])


def test_repeated_matrix_values_keep_the_legs_with_any_of_them(tmp_path: Path) -> None:
    text = CI.replace("os: [linux, mac]", "os: [linux, mac, bsd]")
    root = repo(tmp_path, {".github/workflows/ci.yml": text})
    (spec,) = prepare(RunOptions(cwd=root, matrix={"os": ["linux", "bsd"]})).specs
    assert [j.key for j in spec.plan.jobs] == ["build", "test.1", "test.3"]


ENV_WORKFLOW = """\
on: push
env:
  REGION: workflow-wins
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo
"""


def test_env_option_and_env_file_are_in_the_env_context_below_the_workflow_env(
    tmp_path: Path,
) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": ENV_WORKFLOW})
    (root / ".env").write_text("REGION=from-file\nFILE_ONLY=f\n")
    (spec,) = prepare(RunOptions(cwd=root, env={"NAME": "cli"})).specs
    assert spec.contexts["env"] == {
        "REGION": "workflow-wins",
        "FILE_ONLY": "f",
        "NAME": "cli",
    }


TYPED = """\
on:
  workflow_dispatch:
    inputs:
      dry: {type: boolean, default: false}
      count: {type: number, default: 2}
      level: {type: choice, options: [low, high], default: low}
      note: {type: string}
  workflow_call:
    inputs:
      dry: {type: boolean, default: true}
      ratio: {type: number}
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - run: echo
"""


def test_dispatch_inputs_are_typed_with_defaults_and_read_from_the_payload(
    tmp_path: Path,
) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": TYPED})
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"inputs": {"dry": True, "count": "5", "note": "payload"}}))
    options = RunOptions(
        cwd=root,
        event="workflow_dispatch",
        event_path=payload,
        inputs={"note": "cli", "level": "high"},
    )
    (spec,) = prepare(options).specs
    assert spec.contexts["inputs"] == {"dry": True, "count": 5, "level": "high", "note": "cli"}
    assert spec.plan.event.payload["inputs"] == {
        "dry": "true",
        "count": "5",
        "level": "high",
        "note": "cli",
    }
    (spec,) = prepare(RunOptions(cwd=root, event="workflow_dispatch")).specs
    assert spec.contexts["inputs"] == {"dry": False, "count": 2, "level": "low"}
    assert spec.plan.event.payload["inputs"] == {"dry": "false", "count": "2", "level": "low"}


def test_workflow_call_inputs_are_typed(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": TYPED})
    options = RunOptions(cwd=root, event="workflow_call", inputs={"dry": "FALSE", "ratio": "0.5"})
    (spec,) = prepare(options).specs
    assert spec.contexts["inputs"] == {"dry": False, "ratio": 0.5}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"dry": "yes"}, "input 'dry' is a boolean, got 'yes'"),
        ({"count": "many"}, "input 'count' is a number, got 'many'"),
        ({"level": "medium"}, "input 'level' must be one of its options, got 'medium'"),
    ],
)
def test_an_input_its_type_refuses_is_a_clear_error(
    tmp_path: Path, given: dict[str, str], message: str
) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": TYPED})
    with pytest.raises(RunError) as caught:
        prepare(RunOptions(cwd=root, event="workflow_dispatch", inputs=given))
    assert message in caught.value.message
    if "level" in given:
        assert caught.value.hint == "options: low, high"


def test_a_missing_payload_file_says_e_is_the_eventpath(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI})
    with pytest.raises(ConfigError) as caught:
        prepare(RunOptions(cwd=root, event_path=Path("push")))
    assert caught.value.hint is not None and "--event" in caught.value.hint


DEPLOY = """\
name: Deploy
on: [push, workflow_dispatch]
jobs:
  ship:
    name: Ship it
    needs: [check]
    runs-on: ubuntu-latest
    steps:
      - run: echo
  check:
    runs-on: ubuntu-latest
    steps:
      - run: echo
"""


def test_workflows_option_takes_a_file_or_a_directory(tmp_path: Path) -> None:
    root = repo(
        tmp_path,
        {
            ".github/workflows/ci.yml": CI,
            "flows/deploy.yml": DEPLOY,
            "flows/more/other.yaml": DEPLOY.replace("Deploy", "Other"),
        },
    )
    chosen = select(RunOptions(cwd=root, workflows=Path("flows")))
    assert [w.path for w in chosen.workflows] == ["flows/deploy.yml", "flows/more/other.yaml"]
    chosen = select(RunOptions(cwd=root / "flows", workflows=Path("deploy.yml")))
    assert [w.path for w in chosen.workflows] == ["flows/deploy.yml"]
    chosen = select(RunOptions(cwd=root, workflows=Path("flows"), workflow="other"))
    assert [w.path for w in chosen.workflows] == ["flows/more/other.yaml"]
    with pytest.raises(RunError, match="-W nowhere: no such file or directory"):
        select(RunOptions(cwd=root, workflows=Path("nowhere")))


def test_list_jobs_gives_each_job_its_stage(tmp_path: Path) -> None:
    root = repo(tmp_path, {".github/workflows/ci.yml": CI, ".github/workflows/d.yml": DEPLOY})
    rows = list_jobs(select(RunOptions(cwd=root, event="pull_request"), every=True))
    assert [(r.stage, r.job_id, r.name, r.workflow, r.path, r.events) for r in rows] == [
        (
            0,
            "build",
            "build",
            "CI",
            ".github/workflows/ci.yml",
            ["push", "pull_request", "workflow_dispatch"],
        ),
        (0, "check", "check", "Deploy", ".github/workflows/d.yml", ["push", "workflow_dispatch"]),
        (
            1,
            "test",
            "test",
            "CI",
            ".github/workflows/ci.yml",
            ["push", "pull_request", "workflow_dispatch"],
        ),
        (1, "ship", "Ship it", "Deploy", ".github/workflows/d.yml", ["push", "workflow_dispatch"]),
    ]
    only_pr = list_jobs(select(RunOptions(cwd=root, event="pull_request")))
    assert {r.workflow for r in only_pr} == {"CI"}


def test_a_call_its_callee_refuses_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    deploy = (
        "on:\n  workflow_call:\n    inputs:\n      target: {required: true, type: string}\n"
        "jobs:\n  go:\n    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n"
    )
    caller = "on: push\njobs:\n  ship:\n    uses: ./.github/workflows/deploy.yml\n"
    root = repo(
        tmp_path,
        {".github/workflows/ci.yml": caller, ".github/workflows/deploy.yml": deploy},
    )
    with pytest.raises(WorkflowError) as caught:
        prepare(RunOptions(cwd=root))
    (found,) = caught.value.diagnostics
    assert found.position is not None and found.position.path == ".github/workflows/ci.yml"
    assert (found.position.line, found.position.col) == (4, 11)
    assert found.message == (
        "job 'ship' does not pass required input 'target' to ./.github/workflows/deploy.yml"
    )
