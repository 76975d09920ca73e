"""`stageline validate` driven as users run it: a subprocess in real git repositories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import stageline

FIXTURE = Path(__file__).parents[1] / "workflow" / "fixtures" / "multi-stage.yml"
BROKEN = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    stpes:
      - run: make
  deploy:
    needs: biuld
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ bogus.value }}
"""


def validate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stageline(cwd, "validate", *args)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    return root


def test_the_multi_stage_example_validates_cleanly(repo: Path) -> None:
    shutil.copy(FIXTURE, repo / ".github" / "workflows" / "pipeline.yml")
    result = validate(repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ".github/workflows/pipeline.yml: OK (5 jobs)\n"
    assert result.stderr == ""


def test_default_finds_every_workflow_from_a_subdirectory(repo: Path) -> None:
    shutil.copy(FIXTURE, repo / ".github" / "workflows" / "a.yml")
    (repo / ".stageline" / "workflows").mkdir(parents=True)
    shutil.copy(FIXTURE, repo / ".stageline" / "workflows" / "b.yaml")
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    result = validate(sub)
    assert result.returncode == 0, result.stderr
    assert [line.split(": ")[1] for line in result.stdout.splitlines()] == ["OK (5 jobs)"] * 2
    assert result.stdout.count("a.yml") == 1 and result.stdout.count("b.yaml") == 1


def test_errors_are_positioned_with_hints_and_exit_1(repo: Path) -> None:
    (repo / ".github" / "workflows" / "broken.yml").write_text(BROKEN)
    result = validate(repo)
    assert result.returncode == 1
    assert result.stdout == ""
    stderr = result.stderr
    assert "Traceback" not in stderr
    name = ".github/workflows/broken.yml"
    assert (
        f"{name}:5:5: error: unknown key 'stpes' in job 'build'\n  hint: did you mean 'steps'?"
        in stderr
    )
    assert f"{name}:8:12: error: job 'deploy' needs unknown job 'biuld'" in stderr
    assert f"{name}:11:23: error: invalid expression" in stderr
    assert f"{name}:3:3: error: job 'build' has no `steps`" in stderr


def test_explicit_paths_mix_valid_and_invalid_files(repo: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    shutil.copy(FIXTURE, good)
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs: [\n")
    result = validate(repo, str(good), str(bad))
    assert result.returncode == 1
    assert result.stdout == f"{good}: OK (5 jobs)\n"
    assert f"{bad}:3:1: error: invalid YAML" in result.stderr
    assert "1 of 2 workflow file(s) invalid" in result.stderr


def test_warnings_are_shown_but_do_not_fail(repo: Path) -> None:
    path = repo / ".github" / "workflows" / "ci.yml"
    path.write_text(
        "on: push\njobs:\n  a:\n    runs-on: macos-latest\n    steps: [{run: 'true'}]\n"
    )
    result = validate(repo)
    assert result.returncode == 0
    assert ".github/workflows/ci.yml:4:14: warning: runs-on 'macos-latest'" in result.stderr
    assert result.stdout == ".github/workflows/ci.yml: OK (1 job, 1 warning(s))\n"


def test_a_directory_argument_means_its_workflows(repo: Path, tmp_path: Path) -> None:
    shutil.copy(FIXTURE, repo / ".github" / "workflows" / "a.yml")
    result = validate(tmp_path, str(repo))
    assert result.returncode == 0, result.stderr
    assert "a.yml: OK" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    default = validate(outside)
    assert default.returncode == 2
    assert "not inside a git repository" in default.stderr
    missing = validate(outside, "nope.yml")
    assert missing.returncode == 2
    assert "no such file or directory: nope.yml" in missing.stderr
    assert "Traceback" not in default.stderr + missing.stderr


def test_a_repository_without_workflows_is_a_usage_error(repo: Path) -> None:
    result = validate(repo)
    assert result.returncode == 2
    assert "no workflow files" in result.stderr


def test_a_call_missing_a_required_input_of_its_callee_fails(repo: Path) -> None:
    flows = repo / ".github" / "workflows"
    (flows / "deploy.yml").write_text(
        "on:\n  workflow_call:\n    inputs:\n      target: {type: string, required: true}\n"
        "jobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n"
    )
    (flows / "ci.yml").write_text(
        "on: push\njobs:\n  staging:\n    uses: ./.github/workflows/deploy.yml\n"
        "    with: {target: staging}\n"
        "  production:\n    needs: staging\n    uses: ./.github/workflows/deploy.yml\n"
    )
    result = validate(repo)
    assert result.returncode == 1
    assert (
        ".github/workflows/ci.yml:8:11: error: job 'production' does not pass required "
        "input 'target' to ./.github/workflows/deploy.yml" in result.stderr
    )
    assert result.stderr.count(": error: ") == 1
    assert ".github/workflows/deploy.yml: OK (1 job)\n" in result.stdout


def test_the_repositorys_stageline_yml_is_checked_with_positioned_errors(repo: Path) -> None:
    shutil.copy(FIXTURE, repo / ".github" / "workflows" / "pipeline.yml")
    (repo / ".stageline.yml").write_text(
        "environments:\n"
        "  prod:\n"
        "    monitor:\n"
        "      duration: 5s\n"
        "      checks:\n"
        "        - {name: up, http: {url: 'http://', status: 99999}}\n"
        "        - {name: p, prometheus: {url: not a url, query: up, fail_if: 'result > 1'}}\n"
    )
    result = validate(repo)
    assert result.returncode == 1
    assert ".github/workflows/pipeline.yml: OK (5 jobs)" in result.stdout
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert [line.split(": error: ")[0] for line in errors] == [
        ".stageline.yml:6:34",
        ".stageline.yml:6:53",
        ".stageline.yml:7:39",
    ]
    assert "url has no host" in errors[0] and "status must be an HTTP status" in errors[1]
    assert "must start with http:// or https://, got 'not a url'" in errors[2]
    assert "Traceback" not in result.stderr


def test_a_valid_stageline_yml_is_reported_ok(repo: Path) -> None:
    shutil.copy(FIXTURE, repo / ".github" / "workflows" / "pipeline.yml")
    (repo / ".stageline.yml").write_text("environments:\n  prod:\n    url: http://127.0.0.1:8080\n")
    result = validate(repo, ".github/workflows/pipeline.yml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        ".github/workflows/pipeline.yml: OK (5 jobs)",
        ".stageline.yml: OK",
    ]
