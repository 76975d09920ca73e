"""`stageline graph` on real git repositories in temp dirs, through the real CLI process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import stageline

MULTI_STAGE = """\
name: Multi-Stage CI/CD

on:
  push:
    branches: [develop, main]

jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v3
      - name: Build
        run: npm run build

  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        node: [18, 20]
    steps:
      - uses: actions/checkout@v3
      - name: Run Tests
        run: npm test

  deploy-staging:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - name: Deploy Staging
        run: ./deploy-staging.sh

  approval:
    needs: deploy-staging
    runs-on: ubuntu-latest
    steps:
      - name: Wait for Approval
        uses: hmarr/auto-approve-action@v2

  deploy-production:
    needs: approval
    runs-on: ubuntu-latest
    steps:
      - name: Deploy Production
        run: ./deploy-production.sh
"""

LINT = """\
on: pull_request
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo lint
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "pipeline.yml").write_text(MULTI_STAGE)
    (tmp_path / "src").mkdir()
    return tmp_path


def test_default_is_the_repositorys_only_workflow_as_text(repo: Path) -> None:
    result = stageline(repo / "src", "graph")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Multi-Stage CI/CD (" + str(repo / ".github/workflows/pipeline.yml") + ")"
    assert "  test  needs: build  [matrix: 2 jobs]" in lines
    assert "    - test (18)" in lines and "    - test (20)" in lines
    assert lines[-2:] == ["stage 5:", "  deploy-production  needs: approval"]


def test_mermaid_is_a_flowchart_of_the_stages(repo: Path) -> None:
    result = stageline(repo, "graph", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    test["test<br/>matrix: 2 jobs<br/>18<br/>20"]' in lines
    assert "    build --> test --> deploy-staging --> approval --> deploy-production" in lines


def test_json_and_dot_formats(repo: Path) -> None:
    document = json.loads(stageline(repo, "graph", "-f", "json").stdout)
    assert document["layers"] == [
        ["build"],
        ["test"],
        ["deploy-staging"],
        ["approval"],
        ["deploy-production"],
    ]
    assert document["jobs"][1]["matrix"]["legs"] == ["18", "20"]
    dot = stageline(repo, "graph", "--format", "dot").stdout
    assert '  "approval" -> "deploy-production";' in dot.splitlines()


def test_several_workflows_need_a_choice(repo: Path) -> None:
    (repo / ".github" / "workflows" / "lint.yaml").write_text(LINT)
    result = stageline(repo, "graph")
    assert result.returncode == 1
    assert "has 2 workflows" in result.stderr
    assert ".github/workflows/lint.yaml" in result.stderr
    assert ".github/workflows/pipeline.yml" in result.stderr
    assert "Traceback" not in result.stderr
    chosen = stageline(repo, "graph", "lint.yaml", "--format", "mermaid")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.splitlines() == ["flowchart TD", '    lint["lint"]']


def test_an_explicit_path_outside_a_repository(tmp_path: Path) -> None:
    path = tmp_path / "flow.yml"
    path.write_text(LINT)
    result = stageline(tmp_path, "graph", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["layers"] == [["lint"]]


def test_no_workflow_is_an_error(tmp_path: Path) -> None:
    result = stageline(tmp_path, "graph")
    assert result.returncode == 1
    assert "no workflow found" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cycle_is_a_positioned_error(repo: Path) -> None:
    broken = MULTI_STAGE.replace("  build:\n", "  build:\n    needs: deploy-production\n")
    (repo / ".github" / "workflows" / "pipeline.yml").write_text(broken)
    result = stageline(repo, "graph")
    assert result.returncode == 1
    assert "cycle" in result.stderr
    assert "build" in result.stderr and "deploy-production" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_format_is_a_usage_error(repo: Path) -> None:
    result = stageline(repo, "graph", "--format", "png")
    assert result.returncode == 2


def test_a_called_workflow_is_drawn_inside_its_caller(tmp_path: Path) -> None:
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    (flows / "ci.yml").write_text(
        "on: push\njobs:\n  deploy:\n    uses: ./.github/workflows/deploy.yml\n"
        "  after:\n    needs: deploy\n    runs-on: x\n    steps: [{run: x}]\n"
    )
    (flows / "deploy.yml").write_text(
        "on: workflow_call\njobs:\n  ship: {runs-on: x, steps: [{run: x}]}\n"
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = stageline(tmp_path, "graph", "ci.yml", "-f", "mermaid")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "flowchart TD\n"
        '    subgraph call0["deploy (./.github/workflows/deploy.yml)"]\n'
        '      job0["ship"]\n'
        "    end\n"
        "    job0 --> after\n"
    )
