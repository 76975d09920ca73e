"""Helpers shared by the loader and validation tests (positions come from the
source text, never from our own output)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stageline.errors import Diagnostic, WorkflowError
from stageline.workflow import Workflow, load_workflow

FIXTURES = Path(__file__).parent / "fixtures"


def load(text: str, path: str = "wf.yml") -> Workflow:
    """Load dedented YAML text as a workflow file named `path`."""
    return load_workflow(path, textwrap.dedent(text))


def errors_of(text: str, path: str = "wf.yml") -> list[Diagnostic]:
    """The error diagnostics of a workflow that must fail to load."""
    with pytest.raises(WorkflowError) as caught:
        load(text, path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def where(text: str, needle: str, offset: int = 0, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the `occurrence`-th `needle` in dedented `text`, plus
    `offset` columns: expected positions are computed from the source, not from our
    own output."""
    source = textwrap.dedent(text)
    index = -1
    for _ in range(occurrence):
        index = source.index(needle, index + 1)
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return line, col + offset


def at(diagnostic: Diagnostic) -> tuple[int, int]:
    assert diagnostic.position is not None
    return diagnostic.position.line, diagnostic.position.col


def one(diagnostics: list[Diagnostic], fragment: str) -> Diagnostic:
    """The single diagnostic whose message contains `fragment`."""
    found = [d for d in diagnostics if fragment in d.message]
    assert len(found) == 1, [d.render() for d in diagnostics]
    return found[0]


#: A workflow that uses the whole syntax Stageline reads, valid on GitHub.
FULL = """\
name: Full
run-name: Deploy by ${{ github.actor }}
on:
  push:
    branches: [main, 'releases/**']
    tags: [v*]
    paths-ignore: [docs/**]
  pull_request:
    types: [opened, synchronize]
    branches: [main]
  workflow_dispatch:
    inputs:
      level:
        description: Log level
        required: true
        default: warning
        type: choice
        options: [info, warning, debug]
  schedule:
    - cron: '30 5 * * 1,3'
    - cron: '*/15 0-6 1 JAN-MAR SUN'
  workflow_call:
    inputs:
      config:
        type: string
        default: ${{ github.ref }}
    outputs:
      digest:
        value: ${{ jobs.build.outputs.digest }}
    secrets:
      token:
        required: true
permissions:
  contents: read
  id-token: write
env:
  CI: true
  LEVEL: ${{ inputs.level }}
defaults:
  run:
    shell: bash
    working-directory: app
concurrency:
  group: ${{ github.workflow }}-${{ github.ref }}
  cancel-in-progress: true
jobs:
  build:
    name: Build ${{ matrix.os }}
    runs-on: ${{ matrix.os }}
    timeout-minutes: 30
    continue-on-error: ${{ matrix.experimental }}
    permissions: read-all
    env:
      NODE: 20
    defaults:
      run:
        shell: sh
    outputs:
      digest: ${{ steps.hash.outputs.digest }}
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        os: [ubuntu-latest, ubuntu-22.04]
        node: [18, 20]
        experimental: [false]
        include:
          - os: ubuntu-latest
            node: 21
            experimental: true
        exclude:
          - os: ubuntu-22.04
            node: 18
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - id: hash
        name: Hash
        if: ${{ success() && hashFiles('**/package-lock.json') != '' }}
        run: echo "digest=1" >> "$GITHUB_OUTPUT"
        shell: python {0}
        env:
          KEY: ${{ secrets.KEY }}
        working-directory: src
        continue-on-error: true
        timeout-minutes: 5
  deploy:
    needs: [build]
    if: github.ref == 'refs/heads/main'
    runs-on: [self-hosted, linux]
    environment:
      name: production
      url: ${{ steps.deploy.outputs.url }}
    concurrency: deploy-production
    steps:
      - id: deploy
        run: ./deploy.sh
"""
