"""The security lint against the examples of GitHub's "Security hardening for GitHub
Actions" guide (and the Security Lab posts it links for untrusted input and pwn
requests), with expected positions, and against safe look-alikes that must pass."""

from __future__ import annotations

import textwrap

import pytest

from stageline.deploy.security import security_findings
from stageline.workflow import load_workflow
from tests.workflow.support import where

#: The guide's list of untrusted input.
GUIDE_UNTRUSTED = [
    "github.event.issue.title",
    "github.event.issue.body",
    "github.event.pull_request.title",
    "github.event.pull_request.body",
    "github.event.comment.body",
    "github.event.review.body",
    "github.event.pages.*.page_name",
    "github.event.commits.*.message",
    "github.event.head_commit.message",
    "github.event.head_commit.author.email",
    "github.event.head_commit.author.name",
    "github.event.commits.*.author.email",
    "github.event.commits.*.author.name",
    "github.event.pull_request.head.ref",
    "github.event.pull_request.head.label",
    "github.event.pull_request.head.repo.default_branch",
    "github.head_ref",
]


def findings(text: str) -> list[tuple[tuple[int, int], str]]:
    """(line, col) and message head (up to ':') of each finding."""
    source = textwrap.dedent(text)
    workflow = load_workflow("wf.yml", source)
    found = []
    for d in security_findings(workflow, source):
        assert d.position is not None and d.severity == "warning" and d.hint
        found.append(((d.position.line, d.position.col), d.message.split(":")[0]))
    return found


# -- script injection -------------------------------------------------------------------

GUIDE_INJECTION = """\
on: pull_request
permissions: {contents: read}
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - name: Check PR title
        run: |
          title="${{ github.event.pull_request.title }}"
          if [[ $title =~ ^octocat ]]; then
          echo "PR title starts with 'octocat'"
          exit 0
          else
          echo "PR title did not start with 'octocat'"
          exit 1
          fi
"""

GUIDE_ENV_INDIRECTION = """\
on: pull_request
permissions: {contents: read}
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - name: Check PR title
        env:
          TITLE: ${{ github.event.pull_request.title }}
        run: |
          if [[ "$TITLE" =~ ^octocat ]]; then
          echo "PR title starts with 'octocat'"
          exit 0
          else
          echo "PR title did not start with 'octocat'"
          exit 1
          fi
"""

GUIDE_ACTION_INPUT = """\
on: pull_request
permissions: {contents: read}
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: fakeaction/checktitle@v3
        with:
          title: ${{ github.event.pull_request.title }}
"""


def test_the_guides_script_injection_is_found_at_the_expression() -> None:
    at = where(GUIDE_INJECTION, "${{ github.event.pull_request.title }}")
    assert findings(GUIDE_INJECTION) == [(at, "script injection")]


@pytest.mark.parametrize("field", GUIDE_UNTRUSTED)
def test_every_untrusted_field_of_the_guide_is_found_in_run(field: str) -> None:
    text = (
        "on: [issues, pull_request, push]\npermissions: read-all\njobs:\n  a:\n"
        "    runs-on: x\n    steps:\n      - run: |\n          set -e\n"
        f'          echo "x ${{{{ {field} }}}}"\n'
    )
    assert findings(text) == [(where(text, "${{"), "script injection")]


def test_github_script_scripts_are_checked_too() -> None:
    text = """\
    on: issues
    permissions: {issues: write}
    jobs:
      triage:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/github-script@v7
            with:
              script: |
                const title = "${{ github.event.issue.title }}"
                console.log(title)
    """
    assert findings(text) == [(where(text, "${{ github"), "script injection")]


@pytest.mark.parametrize(
    "safe",
    [
        GUIDE_ENV_INDIRECTION,
        GUIDE_ACTION_INPUT,
        # trusted fields, and untrusted ones outside a script
        GUIDE_INJECTION.replace("pull_request.title", "pull_request.number"),
        GUIDE_INJECTION.replace("pull_request.title", "pull_request.head.sha"),
        GUIDE_INJECTION.replace(
            "      - name: Check PR title\n",
            "      - name: Check PR title\n        if: contains(github.event.pull_request.title,"
            " 'x')\n",
        ).replace("${{ github.event.pull_request.title }}", "$GITHUB_HEAD_REF"),
        # a script that only names the field in a shell variable
        GUIDE_INJECTION.replace("${{ github.event.pull_request.title }}", "$PR_TITLE_BODY"),
    ],
)
def test_safe_look_alikes_are_not_flagged(safe: str) -> None:
    assert findings(safe) == []


# -- dangerous checkout (pwn requests) --------------------------------------------------

PWN_REQUEST = """\
on: pull_request_target
permissions: {contents: read}
jobs:
  build:
    name: Build and test
    runs-on: ubuntu-latest
    steps:
    - uses: actions/checkout@v2
      with:
        ref: ${{ github.event.pull_request.head.sha }}
    - uses: actions/setup-node@v1
    - run: |
        npm install
        npm build
    - uses: completely/fakeaction@v2
      with:
        arg1: ${{ secrets.supersecret }}
"""

WORKFLOW_RUN = """\
on:
  workflow_run:
    workflows: ["Receive PR"]
    types: [completed]
permissions: {contents: read}
jobs:
  upload:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.workflow_run.head_sha }}
      - run: npm ci && npm test
"""


def test_the_pwn_request_example_checks_out_the_head_with_an_unpinned_action() -> None:
    assert findings(PWN_REQUEST) == [
        (where(PWN_REQUEST, "${{ github.event.pull_request.head.sha"), "dangerous checkout"),
        (where(PWN_REQUEST, "completely/fakeaction@v2"), "unpinned action"),
    ]


def test_a_workflow_run_checkout_of_the_head_is_dangerous() -> None:
    assert findings(WORKFLOW_RUN) == [
        (where(WORKFLOW_RUN, "${{ github.event.workflow_run"), "dangerous checkout")
    ]


@pytest.mark.parametrize(
    "safe",
    [
        PWN_REQUEST.replace("pull_request_target", "pull_request").replace(
            "completely/fakeaction@v2", "completely/fakeaction@" + "a" * 40
        ),
        WORKFLOW_RUN.replace(
            "        with:\n          ref: ${{ github.event.workflow_run.head_sha }}\n", ""
        ),
    ],
)
def test_checkouts_of_trusted_code_pass(safe: str) -> None:
    assert findings(safe) == []


# -- secrets on the command line ---------------------------------------------------------


def test_a_secret_pasted_into_run_or_echoed_is_exposed() -> None:
    text = """\
    on: push
    permissions: {contents: read}
    env:
      API_KEY: ${{ secrets.API_KEY }}
    jobs:
      a:
        runs-on: ubuntu-latest
        steps:
          - run: |
              curl -H "Authorization: ${{ secrets.TOKEN }}" https://example.com
          - run: |
              ./build.sh
              echo "key is $API_KEY"
    """
    assert findings(text) == [
        (where(text, "${{ secrets.TOKEN"), "secret exposure"),
        (where(text, 'echo "key'), "secret exposure"),
    ]


def test_a_secret_read_from_the_environment_passes() -> None:
    text = """\
    on: push
    permissions: {contents: read}
    jobs:
      a:
        runs-on: ubuntu-latest
        steps:
          - run: ./deploy.sh && echo "deployed $VERSION"
            env:
              TOKEN: ${{ secrets.TOKEN }}
              VERSION: ${{ github.sha }}
          - uses: actions/cache@v4
            with: {path: x, key: k}
    """
    assert findings(text) == []


# -- unpinned actions --------------------------------------------------------------------


def test_unpinned_third_party_actions_are_flagged_only_where_secrets_are() -> None:
    text = """\
    on: push
    permissions: {contents: read}
    jobs:
      publish:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: github/codeql-action/init@v3
          - uses: pypa/gh-action-pypi-publish@release/v1
            with:
              password: ${{ secrets.PYPI }}
          - uses: docker/login-action@0d4c9c5ea7693da7b068278f7b52bda2a190a446
      lint:
        runs-on: ubuntu-latest
        steps:
          - uses: pypa/gh-action-pypi-publish@release/v1
      called:
        uses: acme/workflows/.github/workflows/deploy.yml@main
        secrets: inherit
    """
    assert findings(text) == [
        (where(text, "pypa/gh-action-pypi-publish@release/v1"), "unpinned action"),
        (where(text, "acme/workflows"), "unpinned action"),
    ]


# -- permissions --------------------------------------------------------------------------


def test_write_all_and_a_deploy_without_permissions_are_flagged() -> None:
    text = """\
    on: push
    permissions: write-all
    jobs:
      build:
        runs-on: ubuntu-latest
        permissions: write-all
        steps: [{run: make}]
    """
    assert findings(text) == [
        (where(text, "write-all"), "excessive permissions"),
        (where(text, "write-all", occurrence=2), "excessive permissions"),
    ]
    deploy = """\
    on: push
    jobs:
      build:
        runs-on: ubuntu-latest
        steps: [{run: make}]
      production:
        runs-on: ubuntu-latest
        environment: production
        steps: [{run: ./deploy.sh}]
    """
    assert findings(deploy) == [(where(deploy, "production:"), "no permissions")]


def test_least_privilege_passes() -> None:
    text = """\
    on: push
    permissions: {contents: read}
    jobs:
      production:
        runs-on: ubuntu-latest
        environment: production
        permissions: {contents: read, deployments: write}
        steps: [{run: ./deploy.sh}]
    """
    assert findings(text) == []
