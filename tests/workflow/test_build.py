"""What GitHub's workflow parser accepts and rejects, against `workflow.build`:
realistic snippets that must load clean, and GitHub's rejections as positioned
errors."""

from __future__ import annotations

import pytest

from tests.workflow.support import errors_of, load, where

DEPLOY = """\
name: Deploy
on:
  push:
    branches: [main]
concurrency:
  group: deploy-${{ github.ref }}
  cancel-in-progress: false
  queue: max
jobs:
  preview:
    runs-on: ubuntu-latest
    environment:
      name: preview
      url: https://preview.example.com
      deployment: false
    steps:
      - uses: $/.github/actions/build
      - run: ./deploy.sh preview
  production:
    needs: preview
    runs-on: ubuntu-latest
    concurrency:
      group: production
      queue: single
    environment:
      name: production
      deployment: true
    steps:
      - run: ./deploy.sh production
"""


def test_a_deploy_pipeline_with_githubs_newer_keys_loads_clean() -> None:
    workflow = load(DEPLOY)
    assert workflow.concurrency is not None and workflow.concurrency.group.startswith("deploy-")
    assert workflow.jobs["preview"].environment is not None
    assert workflow.jobs["preview"].environment.url == "https://preview.example.com"
    assert workflow.jobs["preview"].steps[0].uses == "$/.github/actions/build"
    assert not [w for w in workflow.warnings if "unknown" in w.message]


WINDOWS_AND_BLANKS = """\
name:
on: push
defaults:
  run:
    shell: BASH
    working-directory:
jobs:
  test:
    name:
    runs-on: ubuntu-latest
    steps:
      - name:
        shell: PowerShell
        working-directory:
        run: Write-Output hello
      - shell: Python
        run: print("hi")
      - shell: bash
        working-directory: ""
        run: echo hi
"""


def test_shell_names_in_any_case_and_blank_optional_strings_are_accepted() -> None:
    workflow = load(WINDOWS_AND_BLANKS)
    job = workflow.jobs["test"]
    assert workflow.name is None and job.name is None
    assert workflow.defaults is not None and workflow.defaults.shell == "BASH"
    assert workflow.defaults.working_directory is None
    first = job.steps[0]
    assert (first.name, first.shell, first.working_directory) == (None, "PowerShell", None)
    assert job.steps[1].shell == "Python"


def test_the_workflow_description_key_is_accepted() -> None:
    workflow = load("""\
        name: CI
        description: Builds and tests every push
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps: [{run: make}]
        """)
    assert workflow.name == "CI"


def rendered(text: str) -> list[str]:
    return [d.render().splitlines()[0] for d in errors_of(text)]


def error_at(text: str, needle: str, message: str, occurrence: int = 1) -> str:
    line, col = where(text, needle, occurrence=occurrence)
    return f"wf.yml:{line}:{col}: error: {message}"


def test_env_names_that_differ_only_in_case_are_rejected() -> None:
    text = """\
        on: push
        env:
          Token: a
          TOKEN: b
        jobs:
          a:
            runs-on: ubuntu-latest
            env: {path_x: 1, PATH_X: 2, other: 3}
            steps:
              - run: echo
                env:
                  Home: x
                  home: y
                  HOME: z
        """
    twin = "environment variable '{}' differs only in case from '{}' in the same `{}`"
    assert rendered(text) == [
        error_at(text, "TOKEN", twin.format("TOKEN", "Token", "env")),
        error_at(text, "PATH_X", twin.format("PATH_X", "path_x", "jobs.a.env")),
        error_at(text, "home:", twin.format("home", "Home", "jobs.a.steps[0].env")),
        error_at(text, "HOME", twin.format("HOME", "Home", "jobs.a.steps[0].env")),
    ]


def test_the_same_name_in_different_env_mappings_is_fine() -> None:
    workflow = load("""\
        on: push
        env: {TOKEN: a}
        jobs:
          a:
            runs-on: ubuntu-latest
            env: {token: b}
            steps: [{run: echo, env: {Token: c}}]
        """)
    assert workflow.env == {"TOKEN": "a"}


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        ("runs-on: []\n    steps: [{run: x}]", "[]", "`jobs.b.runs-on` cannot be empty"),
        ("runs-on: ''\n    steps: [{run: x}]", "''", "`jobs.b.runs-on` cannot be empty"),
        (
            "runs-on: {labels: []}\n    steps: [{run: x}]",
            "[]",
            "`jobs.b.runs-on.labels` cannot be empty",
        ),
        (
            "runs-on: x\n    needs: []\n    steps: [{run: x}]",
            "[]",
            "`jobs.b.needs` cannot be empty",
        ),
    ],
)
def test_empty_runs_on_and_needs_are_rejected(body: str, needle: str, message: str) -> None:
    text = f"on: push\njobs:\n  a:\n    runs-on: x\n    steps: [{{run: x}}]\n  b:\n    {body}\n"
    assert error_at(text, needle, message) in rendered(text)


def test_an_empty_needs_or_label_is_reported_once() -> None:
    """Not also as a job named '' or a foreign runner label."""
    text = """\
        on: push
        jobs:
          a:
            runs-on: x
            steps: [{run: x}]
          b:
            needs: ''
            runs-on: [x, '']
            steps: [{run: x}]
        """
    assert rendered(text) == [
        error_at(text, "''", "`jobs.b.needs` cannot be empty"),
        error_at(text, "''", "`jobs.b.runs-on[1]` cannot be empty", occurrence=2),
    ]


def test_empty_types_are_rejected() -> None:
    text = """\
        on:
          pull_request:
            types: []
          issues:
            types: []
          release:
            types: ''
        jobs:
          a:
            runs-on: x
            steps: [{run: x}]
        """
    assert rendered(text) == [
        error_at(text, "[]", "`on.pull_request.types` cannot be empty"),
        error_at(text, "[]", "`on.issues.types` cannot be empty", occurrence=2),
        error_at(text, "''", "`on.release.types` cannot be empty"),
    ]


def test_permission_levels_are_checked_per_scope() -> None:
    text = """\
        on: push
        permissions:
          id-token: read
          models: write
          contents: read
        jobs:
          a:
            runs-on: x
            permissions:
              attestations: write
              vulnerability-alerts: write
              id-token: write
              models: read
            steps: [{run: x}]
        """
    assert rendered(text) == [
        error_at(text, "read", "permission 'id-token' must be write or none, got 'read'"),
        error_at(text, "write", "permission 'models' must be read or none, got 'write'"),
        error_at(
            text,
            "write",
            "permission 'vulnerability-alerts' must be read or none, got 'write'",
            occurrence=3,
        ),
    ]


def test_unknown_keys_in_container_services_and_credentials_are_rejected() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            container:
              image: node:20
              port: [80]
              credentials: {username: u, password: p, token: t}
            services:
              db:
                image: postgres:16
                command: postgres -c fsync=off
                entrypoint: /docker-entrypoint.sh
                environment: {POSTGRES_PASSWORD: x}
            steps: [{run: x}]
        """
    assert rendered(text) == [
        error_at(text, "port:", "unknown key 'port' in container"),
        error_at(text, "token", "unknown key 'token' in the credentials of container"),
        error_at(text, "environment:", "unknown key 'environment' in service 'db'"),
    ]


@pytest.mark.parametrize(
    ("snippet", "needle", "message"),
    [
        ("environment: {name: x, deployment: maybe}", "maybe",
         "`jobs.a.environment.deployment` must be true or false, got a string"),
        ("concurrency: {group: g, queue: all}", "all",
         "`jobs.a.concurrency.queue` must be single or max, got 'all'"),
    ],
)  # fmt: skip
def test_new_keys_take_only_their_values(snippet: str, needle: str, message: str) -> None:
    text = f"on: push\njobs:\n  a:\n    runs-on: x\n    {snippet}\n    steps: [{{run: x}}]\n"
    assert rendered(text) == [error_at(text, needle, message)]


def test_services_warn_only_in_a_container_job() -> None:
    # On this machine they are mapped in .stageline.yml (checked before the run).
    on_host = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    services:\n"
    on_host += "      db: {image: postgres, ports: ['5432:5432']}\n    steps: [{run: x}]\n"
    workflow = load(on_host)
    assert workflow.warnings == []
    assert workflow.jobs["a"].services == {"db": {"image": "postgres", "ports": ["5432:5432"]}}
    in_container = load(on_host.replace("    services:", "    container: node:20\n    services:"))
    assert [w.message for w in in_container.warnings][1:] == [
        "`services` are not supported yet in a `container` job: "
        "the job runs without its service containers"
    ]
