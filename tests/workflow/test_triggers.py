"""`on:` as GitHub's workflow parser reads it: its newer keys accepted, and the
`workflow_dispatch` input rules reported at the value that breaks them."""

from __future__ import annotations

from tests.workflow.support import errors_of, load, where

JOBS = """\
jobs:
  a:
    runs-on: ubuntu-latest
    steps: [{run: make}]
"""


def test_merge_queue_image_version_and_scheduled_time_zones_are_accepted() -> None:
    workflow = load(
        """\
on:
  merge_group:
    types: [checks_requested]
    branches-ignore: ['gh-readonly-queue/**/wip-*']
  image_version:
    names: [ubuntu-custom]
    versions: ['1.*']
    types: [ready]
  pull_request_comment:
  schedule:
    - cron: '0 6 * * 1-5'
      timezone: Europe/Berlin
    - cron: '0 0 * * *'
"""
        + JOBS
    )
    merge = workflow.on["merge_group"]
    assert merge.branches_ignore == ["gh-readonly-queue/**/wip-*"]
    assert workflow.on["image_version"].config["names"] == ["ubuntu-custom"]
    assert workflow.on["schedule"].config == {"cron": ["0 6 * * 1-5", "0 0 * * *"]}


def test_merge_group_takes_branches() -> None:
    workflow = load("on:\n  merge_group:\n    branches: [main, 'release/**']\n" + JOBS)
    assert workflow.on["merge_group"].branches == ["main", "release/**"]


def test_an_unknown_or_empty_time_zone_is_rejected() -> None:
    text = (
        "on:\n  schedule:\n    - cron: '0 6 * * *'\n      timezone: Mars/Olympus\n"
        "    - cron: '0 7 * * *'\n      timezone: ''\n" + JOBS
    )
    rendered = [d.render().splitlines()[0] for d in errors_of(text)]
    bad, empty = where(text, "Mars"), where(text, "''")
    assert rendered == [
        f"wf.yml:{bad[0]}:{bad[1]}: error: unknown time zone 'Mars/Olympus'",
        f"wf.yml:{empty[0]}:{empty[1]}: error: `timezone` cannot be empty",
    ]


def test_dispatch_input_rules_point_at_the_offending_value() -> None:
    text = (
        """\
on:
  workflow_dispatch:
    inputs:
      level:
        type: choice
        options: [info, debug]
        default: warn
      region:
        type: choice
      dry-run:
        type: boolean
        options: [yes, no]
      tag:
        options: [a, b]
      count:
        type: choice
        options: [1, 2]
        default: 2
"""
        + JOBS
    )
    rendered = [d.render().splitlines()[0] for d in errors_of(text)]

    def at(needle: str, message: str, occurrence: int = 1) -> str:
        line, col = where(text, needle, occurrence=occurrence)
        return f"wf.yml:{line}:{col}: error: {message}"

    assert rendered == [
        at("warn", "default 'warn' of input 'level' is not one of its options"),
        at("choice", "choice input 'region' needs `options`", occurrence=2),
        at("[yes, no]", "`options` is only valid for inputs of type choice ('dry-run')"),
        at("[a, b]", "`options` is only valid for inputs of type choice ('tag')"),
    ]
