"""Loading workflow files: discovery, the whole syntax into the spec model, positions,
YAML as GitHub reads it, and YAML faults as positioned errors."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stageline.errors import WorkflowError
from stageline.workflow import find_workflows, load_workflow
from tests.workflow.support import FIXTURES, FULL, at, errors_of, load, one, where

MULTI_STAGE = FIXTURES / "multi-stage.yml"


def test_importing_the_workflow_layer_pulls_in_no_heavy_modules() -> None:
    probe = (
        "import sys, stageline.workflow; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'fastapi', 'rich', 'typer', 'alembic'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- discovery --------------------------------------------------------------------------


def test_find_workflows_lists_yml_and_yaml_of_both_folders_sorted(tmp_path: Path) -> None:
    github = tmp_path / ".github" / "workflows"
    local = tmp_path / ".stageline" / "workflows"
    github.mkdir(parents=True)
    local.mkdir(parents=True)
    for name in ("b.yml", "a.yaml", "notes.md", "c.yml.bak"):
        (github / name).write_text("x")
    (github / "dir.yml").mkdir()
    (local / "deploy.yml").write_text("x")

    assert find_workflows(tmp_path) == sorted(
        [github / "a.yaml", github / "b.yml", local / "deploy.yml"]
    )


def test_find_workflows_of_a_folder_without_workflows_is_empty(tmp_path: Path) -> None:
    assert find_workflows(tmp_path) == []


# --- the multi-stage example --------------------------------------------------------------


def test_multi_stage_example_loads_with_its_stages_and_needs() -> None:
    workflow = load_workflow(MULTI_STAGE)

    assert workflow.name == "Multi-Stage CI/CD"
    assert list(workflow.jobs) == [
        "build",
        "test",
        "deploy-staging",
        "approval",
        "deploy-production",
    ]
    assert {job_id: job.needs for job_id, job in workflow.jobs.items()} == {
        "build": [],
        "test": ["build"],
        "deploy-staging": ["test"],
        "approval": ["deploy-staging"],
        "deploy-production": ["approval"],
    }
    assert list(workflow.on) == ["push"]
    assert workflow.on["push"].branches == ["develop", "main"]
    assert workflow.warnings == []
    build = workflow.jobs["build"]
    assert build.runs_on == "ubuntu-latest"
    assert [s.uses for s in build.steps] == ["actions/checkout@v3", None]
    assert [s.run for s in build.steps] == [None, "npm run build"]
    assert workflow.jobs["approval"].steps[0].uses == "hmarr/auto-approve-action@v2"


def test_positions_point_at_each_value_of_the_example() -> None:
    text = MULTI_STAGE.read_text()
    workflow = load_workflow(MULTI_STAGE)
    test_job = workflow.jobs["test"]

    lines = text.splitlines()
    needs_line = lines.index("    needs: build") + 1
    assert (test_job.at("needs").line, test_job.at("needs").col) == (needs_line, 12)
    assert test_job.at("needs").path == str(MULTI_STAGE)
    run = test_job.steps[1]
    run_line = lines.index("        run: npm test") + 1
    assert (run.at("run").line, run.at("run").col) == (run_line, 14)
    assert (run.pos.line, run.pos.col) == (run_line - 1, 9)  # the step's `- name:` entry


# --- the whole syntax ----------------------------------------------------------------------


def test_the_whole_syntax_loads_into_the_model() -> None:
    workflow = load(FULL)

    assert workflow.run_name == "Deploy by ${{ github.actor }}"
    assert list(workflow.on) == [
        "push",
        "pull_request",
        "workflow_dispatch",
        "schedule",
        "workflow_call",
    ]
    push = workflow.on["push"]
    assert (push.branches, push.tags, push.paths_ignore) == (
        ["main", "releases/**"],
        ["v*"],
        ["docs/**"],
    )
    assert workflow.on["pull_request"].types == ["opened", "synchronize"]
    level = workflow.on["workflow_dispatch"].config["inputs"]["level"]
    assert level["options"] == ["info", "warning", "debug"]
    assert level["required"] is True
    assert workflow.on["schedule"].config["cron"] == ["30 5 * * 1,3", "*/15 0-6 1 JAN-MAR SUN"]
    call = workflow.on["workflow_call"].config
    assert call["outputs"]["digest"]["value"] == "${{ jobs.build.outputs.digest }}"
    assert call["secrets"] == {"token": {"required": True}}
    assert workflow.permissions == {"contents": "read", "id-token": "write"}
    assert workflow.env == {"CI": True, "LEVEL": "${{ inputs.level }}"}
    assert workflow.defaults is not None
    assert (workflow.defaults.shell, workflow.defaults.working_directory) == ("bash", "app")
    assert workflow.concurrency is not None
    assert workflow.concurrency.cancel_in_progress is True

    build = workflow.jobs["build"]
    assert build.timeout_minutes == 30
    assert build.continue_on_error == "${{ matrix.experimental }}"
    assert build.permissions == "read-all"
    assert build.env == {"NODE": 20}
    assert build.outputs == {"digest": "${{ steps.hash.outputs.digest }}"}
    assert build.strategy is not None
    assert (build.strategy.fail_fast, build.strategy.max_parallel) == (False, 2)
    assert build.strategy.matrix == {
        "os": ["ubuntu-latest", "ubuntu-22.04"],
        "node": [18, 20],
        "experimental": [False],
        "include": [{"os": "ubuntu-latest", "node": 21, "experimental": True}],
        "exclude": [{"os": "ubuntu-22.04", "node": 18}],
    }
    checkout, hashing = build.steps
    assert checkout.with_ == {"fetch-depth": 0}
    assert (hashing.id, hashing.shell, hashing.working_directory) == ("hash", "python {0}", "src")
    assert hashing.env == {"KEY": "${{ secrets.KEY }}"}
    assert (hashing.continue_on_error, hashing.timeout_minutes) == (True, 5)
    assert hashing.index == 1

    deploy = workflow.jobs["deploy"]
    assert deploy.if_ == "github.ref == 'refs/heads/main'"
    assert deploy.runs_on == ["self-hosted", "linux"]
    assert deploy.environment is not None
    assert (deploy.environment.name, deploy.environment.url) == (
        "production",
        "${{ steps.deploy.outputs.url }}",
    )
    assert deploy.concurrency is not None
    assert deploy.concurrency.group == "deploy-production"
    assert workflow.warnings == []


def test_short_forms_of_needs_environment_and_on() -> None:
    workflow = load(
        """\
        on: [push, pull_request]
        jobs:
          a:
            runs-on: ubuntu-latest
            steps: [{run: 'true'}]
          b:
            needs: a
            environment: staging
            runs-on: ubuntu-latest
            steps: [{run: 'true'}]
        """
    )
    assert list(workflow.on) == ["push", "pull_request"]
    assert workflow.on["push"].branches is None
    assert workflow.jobs["b"].needs == ["a"]
    environment = workflow.jobs["b"].environment
    assert environment is not None
    assert (environment.name, environment.url) == ("staging", None)


def test_on_as_a_single_event_string() -> None:
    assert list(load("on: push\njobs: {a: {runs-on: ubuntu-latest, steps: [{run: x}]}}").on) == [
        "push"
    ]


def test_on_stays_a_string_key_even_under_a_yaml_1_1_directive() -> None:
    # GitHub reads `on` as the key "on"; YAML 1.1 would read it as the boolean true.
    text = "%YAML 1.1\n---\non: push\njobs: {a: {runs-on: ubuntu-latest, steps: [{run: x}]}}\n"
    assert list(load_workflow("wf.yml", text).on) == ["push"]


def test_scalars_follow_the_yaml_1_2_core_schema_as_github_does() -> None:
    # GitHub's docs warn that an unquoted `3.10` is read as the number 3.1 (quote versions),
    # and YAML 1.2 has no `yes`/`on` booleans nor `1_000` numbers.
    workflow = load(
        """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/setup-python@v5
                with:
                  python-version: 3.10
                  quoted: '3.10'
                  answer: yes
                  hex: 0x1F
                  octal: 0o17
                  big: 1_000
                  inf: .inf
                  nothing: ~
                  flag: false
        """
    )
    with_ = workflow.jobs["a"].steps[0].with_
    assert with_["python-version"] == 3.1
    assert with_["quoted"] == "3.10"
    assert with_["answer"] == "yes"
    assert (with_["hex"], with_["octal"]) == (31, 15)
    assert with_["big"] == "1_000"
    assert with_["inf"] == math.inf
    assert with_["nothing"] is None
    assert with_["flag"] is False


def test_string_fields_keep_numbers_as_written() -> None:
    workflow = load("on: push\njobs:\n  a:\n    name: 1.10\n    runs-on: ubuntu-latest\n"
                    "    steps: [{run: 'true'}]\n")  # fmt: skip
    assert workflow.jobs["a"].name == "1.10"


def test_yaml_anchors_and_aliases_are_followed() -> None:
    workflow = load(
        """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            env: &shared
              A: "1"
            steps: &steps
              - run: echo $A
          b:
            runs-on: ubuntu-latest
            env: *shared
            steps: *steps
        """
    )
    assert workflow.jobs["b"].env == {"A": "1"}
    assert workflow.jobs["b"].steps[0].run == "echo $A"


def test_item_positions_of_needs_env_and_filters() -> None:
    text = """\
        on:
          push:
            branches: [main, dev]
        jobs:
          a:
            runs-on: ubuntu-latest
            steps: [{run: x}]
          b:
            runs-on: ubuntu-latest
            steps: [{run: x}]
          c:
            needs:
              - a
              - b
            runs-on: ubuntu-latest
            env:
              TOKEN: abc
            steps:
              - uses: actions/checkout@v4
                with:
                  ref: main
        """
    workflow = load(text)
    c = workflow.jobs["c"]
    assert at_pos(c.positions["needs[1]"]) == where(text, "- b", 2)
    assert at_pos(c.positions["env.TOKEN"]) == where(text, "abc")
    assert at_pos(c.steps[0].positions["with.ref"]) == where(text, "main", occurrence=2)
    assert at_pos(workflow.on["push"].positions["branches[1]"]) == where(text, "dev")


def at_pos(position: object) -> tuple[int, int]:
    return position.line, position.col  # type: ignore[attr-defined]


# --- YAML faults -----------------------------------------------------------------------------


def test_yaml_syntax_error_is_reported_at_the_problem_mark() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: [ubuntu-latest\n    steps: []\n"
    with pytest.raises(WorkflowError) as caught:
        load_workflow("wf.yml", text)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.message.startswith("invalid YAML:")
    assert diagnostic.position is not None
    # The flow sequence opened on line 4 is broken by the `:` on line 5.
    assert diagnostic.position.line == 5


def test_tabs_for_indentation_get_a_hint() -> None:
    [diagnostic] = errors_of("on: push\njobs:\n\ta: {}\n")
    assert diagnostic.position is not None and diagnostic.position.line == 3
    assert diagnostic.hint is not None and "spaces" in diagnostic.hint


def test_a_value_starting_with_bang_is_a_tag_not_a_negation() -> None:
    text = """\
        on: push
        jobs:
          a:
            if: !cancelled()
            runs-on: ubuntu-latest
            steps: [{run: x}]
        """
    diagnostic = one(errors_of(text), "unsupported YAML tag")
    assert at(diagnostic) == where(text, "!cancelled")
    assert diagnostic.hint is not None and "${{ !cond }}" in diagnostic.hint


def test_duplicate_keys_are_errors_pointing_at_the_second() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            runs-on: ubuntu-22.04
            steps: [{run: x}]
        """
    diagnostic = one(errors_of(text), "duplicate key 'runs-on'")
    assert at(diagnostic) == where(text, "runs-on", occurrence=2)
    assert diagnostic.hint == f"first defined at line {where(text, 'runs-on')[0]}"


def test_merge_keys_are_rejected() -> None:
    text = """\
        on: push
        jobs:
          a: &base
            runs-on: ubuntu-latest
            steps: [{run: x}]
          b:
            <<: *base
            runs-on: ubuntu-latest
            steps: [{run: x}]
        """
    assert at(one(errors_of(text), "merge keys")) == where(text, "<<")


def test_more_than_one_document_is_an_error() -> None:
    text = "on: push\njobs: {a: {runs-on: x, steps: [{run: x}]}}\n---\non: push\n"
    diagnostic = one(errors_of(text), "single YAML document")
    assert at(diagnostic) == (3, 1)


def test_undefined_alias_is_an_error() -> None:
    assert one(errors_of("on: push\njobs: *nothing\n"), "undefined alias").position is not None


def test_empty_file_and_a_non_mapping_document_are_errors() -> None:
    assert one(errors_of(""), "empty")
    assert one(errors_of("- on\n- jobs\n"), "must be a mapping, got a list")


def test_a_self_containing_alias_does_not_hang() -> None:
    text = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n"
        "    container: &c {image: x, options: *c}\n"
    )
    assert at(one(errors_of(text), "alias refers to a node that contains it")) == where(text, "&c")


def _laughs(levels: int, fanout: int) -> str:
    """The "billion laughs" workflow: `levels` anchors, each `fanout` aliases of the one
    before, in a matrix (where `has_templates` once walked the expanded tree)."""
    anchors = ["x0: &x0 lol"]
    anchors += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * fanout)}]" for i in range(1, levels + 1)]
    return (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n"
        "    strategy:\n      matrix:\n" + "".join(f"        {line}\n" for line in anchors)
    )


def test_aliases_below_the_cap_are_shared_not_copied() -> None:
    matrix = "strategy:\n      matrix:"
    text = _laughs(4, 9).replace(matrix, "container:\n      image: u\n      env:")
    container = load_workflow("wf.yml", text).jobs["a"].container
    top = container["env"]["x4"]
    assert len(top) == 9
    assert top[0] is top[8]


def test_billion_laughs_is_a_positioned_error_at_the_alias_that_passes_the_cap() -> None:
    text = _laughs(8, 10)
    started = time.perf_counter()
    diagnostic = one(errors_of(text), "YAML aliases expand to more than 100,000 nodes")
    assert time.perf_counter() - started < 1.0
    # x1..x4 stand for 11, 111, 1,111 and 11,111 nodes: their aliases for 12,340 in all,
    # so the 8th alias in x5's list is the one that passes 100,000.
    lines = text.splitlines()
    line = next(n for n, x in enumerate(lines) if "x5: &x5" in x)
    eighth = lines[line].index("*x4, " * 7 + "*x4") + len("*x4, ") * 7
    assert at(diagnostic) == (line + 1, eighth + 1)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, "- " * 5000 + "x", "{a: " * 3000 + "b" + "}" * 3000],
    ids=["flow-sequences", "block-sequences", "flow-mappings"],
)
def test_deep_nesting_is_an_error_not_a_crash(text: str) -> None:
    assert one(errors_of(text), "nests deeper")


def test_non_utf8_file_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_bytes(b"on: push\njobs:\n  a: \xff\n")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    [diagnostic] = caught.value.diagnostics
    assert "UTF-8" in diagnostic.message
    assert at(diagnostic) == (3, 6)


def test_missing_file_is_a_workflow_error(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="cannot read workflow"):
        load_workflow(tmp_path / "nope.yml")


def test_control_characters_are_reported_with_their_position() -> None:
    [diagnostic] = errors_of("on: push\njobs:\n  a: \x07\n")
    assert "character" in diagnostic.message
    assert at(diagnostic) == (3, 6)
