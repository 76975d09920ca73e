"""Validation: every rule of GitHub's "Workflow syntax" that Stageline checks, each
fault reported with its position, and every fault of a file reported at once.

Expected rules and limits come from GitHub's documentation ("Workflow syntax for
GitHub Actions", "Contexts reference" with its context-availability table, "Events
that trigger workflows", "Using a matrix for your jobs").
"""

from __future__ import annotations

import pytest

from stageline.errors import WorkflowError
from stageline.workflow import Job, Strategy, Workflow, validate_workflow
from stageline.workflow.triggers import cron_fault
from tests.workflow.support import at, errors_of, load, one, where

STEPS = "    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n"


def job(name: str, body: str = "") -> str:
    return f"  {name}:\n{body}{STEPS}"


# --- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wrong", "meant"),
    [
        ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stpes: []\n", "stpes", "steps"),
        ("on: push\njbos: {}\njobs:\n" + job("a"), "jbos", "jobs"),
        ("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n        shel: sh\n",
         "shel", "shell"),
        ("on:\n  push:\n    branch: [main]\njobs:\n" + job("a"), "branch", "branches"),
        ("on: push\njobs:\n" + job("a", "    strategy:\n      fail_fast: true\n"),
         "fail_fast", "fail-fast"),
        ("on: push\njobs:\n" + job("a", "    timeout_minutes: 3\n"),
         "timeout_minutes", "timeout-minutes"),
    ],
)  # fmt: skip
def test_unknown_keys_are_reported_with_did_you_mean(text: str, wrong: str, meant: str) -> None:
    diagnostic = one(errors_of(text), f"unknown key '{wrong}'")
    assert at(diagnostic) == where(text, wrong)
    assert diagnostic.hint == f"did you mean '{meant}'?"


def test_unknown_key_without_a_close_match_lists_the_valid_ones() -> None:
    text = "on: push\njobs:\n" + job("a", "    zzz: 1\n")
    diagnostic = one(errors_of(text), "unknown key 'zzz'")
    assert diagnostic.hint is not None and diagnostic.hint.startswith("valid keys: name,")


def test_unknown_event_has_did_you_mean() -> None:
    text = "on: [push, pul_request]\njobs:\n" + job("a")
    diagnostic = one(errors_of(text), "unknown event 'pul_request'")
    assert at(diagnostic) == where(text, "pul_request")
    assert diagnostic.hint == "did you mean 'pull_request'?"


# --- wrong types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment", "value"),
    [
        ("    timeout-minutes: soon\n", "timeout-minutes` must be a positive number", "soon"),
        ("    timeout-minutes: 0\n", "must be a positive number, got 0", "0"),
        ("    timeout-minutes: -5\n", "must be a positive number, got -5", "-5"),
        ("    continue-on-error: maybe\n", "continue-on-error` must be true, false", "maybe"),
        ("    env: [A, B]\n", "env` must be a mapping", "[A"),
        ("    env:\n      A: [1]\n", "env.A` must be a string, number or boolean", "[1]"),
        ("    needs: {a: 1}\n", "needs` must be a string or a list of strings", "{a"),
        ("    outputs: [x]\n", "outputs` must be a mapping", "[x]"),
        ("    strategy: [x]\n", "strategy` must be a mapping", "[x]"),
        ("    strategy:\n      max-parallel: 1.5\n", "max-parallel` must be a positive whole",
         "1.5"),
        ("    strategy:\n      matrix: oops\n", "matrix` must be a mapping or a ${{ }}", "oops"),
        ("    name: [a]\n", "name` must be a string, got a list", "[a]"),
    ],
)  # fmt: skip
def test_wrong_types_are_reported_at_the_value(body: str, fragment: str, value: str) -> None:
    text = "on: push\njobs:\n" + job("a", body)
    diagnostic = one(errors_of(text), fragment)
    assert at(diagnostic) == where(text, value)


def test_steps_must_be_a_list_of_mappings() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - echo hi\n"
    diagnostic = one(errors_of(text), "steps[0]` must be a mapping, got a string")
    assert at(diagnostic) == where(text, "echo hi")


def test_timeout_as_an_expression_is_accepted() -> None:
    workflow = load("on: push\njobs:\n" + job("a", "    timeout-minutes: ${{ inputs.t }}\n"))
    assert workflow.jobs["a"].timeout_minutes == "${{ inputs.t }}"


# --- steps ----------------------------------------------------------------------------------


def test_step_with_both_run_and_uses() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: make
                uses: actions/checkout@v4
        """
    diagnostic = one(errors_of(text), "step 1 has both `run` and `uses`")
    assert at(diagnostic) == where(text, "uses")


def test_step_with_neither_run_nor_uses_suggests_a_misspelt_one() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - name: ok
                run: make
              - name: build
                rnu: make
        """
    diagnostics = errors_of(text)
    diagnostic = one(diagnostics, "step 2 has neither `run` nor `uses`")
    assert at(diagnostic) == where(text, "name: build")
    assert diagnostic.hint == "did you mean 'run'?"
    assert one(diagnostics, "unknown key 'rnu'")


def test_run_steps_take_no_with_and_uses_steps_take_no_shell() -> None:
    # GitHub's schema has separate run-step and uses-step shapes.
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: make
                with: {a: 1}
              - uses: actions/checkout@v4
                shell: bash
        """
    diagnostics = errors_of(text)
    assert at(one(diagnostics, "`with` cannot be used in a step with `run`")) == where(text, "with")
    assert at(one(diagnostics, "`shell` cannot be used in a step with `uses`")) == where(
        text, "shell"
    )


def test_action_references_need_a_version() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: actions/checkout\n"
    diagnostic = one(errors_of(text), "invalid action reference 'actions/checkout'")
    assert at(diagnostic) == where(text, "actions/checkout")


def test_local_and_docker_actions_need_no_version() -> None:
    workflow = load(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./.github/actions/build\n      - uses: docker://alpine:3.20\n"
    )
    assert [s.uses for s in workflow.jobs["a"].steps] == [
        "./.github/actions/build",
        "docker://alpine:3.20",
    ]


def test_step_ids_must_be_valid_and_unique_in_the_job() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - {id: build, run: a}
              - {id: build, run: b}
              - {id: 2nd, run: c}
        """
    diagnostics = errors_of(text)
    assert at(one(diagnostics, "step id 'build' is already used by step 1")) == where(
        text, "build", occurrence=2
    )
    assert one(diagnostics, "invalid step id '2nd'")


def test_unknown_shell_and_custom_shells() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - {run: a, shell: zsh}\n"
    assert at(one(errors_of(text), "unknown shell 'zsh'")) == where(text, "zsh")
    workflow = load(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - {run: a, shell: 'perl {0}'}\n"
    )
    assert workflow.jobs["a"].steps[0].shell == "perl {0}"


# --- jobs -----------------------------------------------------------------------------------


def test_missing_and_empty_jobs() -> None:
    assert one(errors_of("on: push\n"), "the workflow has no `jobs`")
    text = "on: push\njobs: {}\n"
    assert at(one(errors_of(text), "`jobs` is empty")) == where(text, "{}")
    assert one(errors_of("jobs:\n" + job("a")), "the workflow has no `on`")


@pytest.mark.parametrize("job_id", ["1st", "has space", "dot.ted", "-dash"])
def test_invalid_job_ids(job_id: str) -> None:
    # "The <job_id> must start with a letter or _ and contain only alphanumeric
    # characters, -, or _."
    text = f"on: push\njobs:\n  '{job_id}':\n{STEPS}"
    diagnostic = one(errors_of(text), f"invalid job id '{job_id}'")
    assert at(diagnostic) == where(text, f"'{job_id}'")


@pytest.mark.parametrize("job_id", ["_private", "build-1", "Test_2"])
def test_valid_job_ids(job_id: str) -> None:
    assert job_id in load(f"on: push\njobs:\n  {job_id}:\n{STEPS}").jobs


def test_a_job_needs_runs_on_and_steps() -> None:
    text = "on: push\njobs:\n  a:\n    name: nothing\n"
    diagnostics = errors_of(text)
    assert one(diagnostics, "job 'a' has no `runs-on`")
    assert one(diagnostics, "job 'a' has no `steps`")


def test_needs_naming_an_unknown_job() -> None:
    text = "on: push\njobs:\n" + job("build") + job("test", "    needs: [biuld]\n")
    diagnostic = one(errors_of(text), "job 'test' needs unknown job 'biuld'")
    assert at(diagnostic) == where(text, "biuld")
    assert diagnostic.hint == "did you mean 'build'?"


def test_a_cycle_names_every_job_in_it() -> None:
    text = (
        "on: push\njobs:\n"
        + job("a", "    needs: c\n")
        + job("b", "    needs: a\n")
        + job("c", "    needs: b\n")
        + job("d", "    needs: a\n")
    )
    diagnostic = one(errors_of(text), "cycle")
    for name in ("a", "b", "c"):
        assert f"{name} →" in diagnostic.message or f"→ {name}" in diagnostic.message
    assert "d" not in diagnostic.message.split(":", 1)[1]


def test_independent_cycles_and_self_needs_are_all_reported() -> None:
    text = (
        "on: push\njobs:\n"
        + job("a", "    needs: b\n")
        + job("b", "    needs: a\n")
        + job("self", "    needs: self\n")
    )
    cycles = [d for d in errors_of(text) if "cycle" in d.message]
    assert len(cycles) == 2
    assert any("self → self" in d.message for d in cycles)


def test_environment_as_name_or_mapping() -> None:
    workflow = load("on: push\njobs:\n" + job("a", "    environment: {name: prod, url: x}\n"))
    env = workflow.jobs["a"].environment
    assert env is not None and (env.name, env.url) == ("prod", "x")
    text = "on: push\njobs:\n" + job("a", "    environment: {url: x}\n")
    assert at(one(errors_of(text), "`environment` needs a `name`")) == where(text, "{url")
    assert one(errors_of("on: push\njobs:\n" + job("a", "    environment: [a]\n")), "a list")


def test_concurrency_as_group_or_mapping() -> None:
    workflow = load(
        "on: push\nconcurrency: ci-${{ github.ref }}\njobs:\n"
        + job("a", "    concurrency:\n      group: g\n      cancel-in-progress: true\n")
    )
    assert workflow.concurrency is not None and workflow.concurrency.group.startswith("ci-")
    job_concurrency = workflow.jobs["a"].concurrency
    assert job_concurrency is not None and job_concurrency.cancel_in_progress is True
    text = "on: push\njobs:\n" + job("a", "    concurrency: {cancel-in-progress: true}\n")
    assert one(errors_of(text), "`concurrency` needs a `group`")


def test_defaults_run_shell_and_working_directory() -> None:
    text = "on: push\ndefaults:\n  run:\n    shel: bash\njobs:\n" + job("a")
    assert one(errors_of(text), "unknown key 'shel'").hint == "did you mean 'shell'?"
    text = "on: push\ndefaults:\n  run:\n    working-directory: ${{ github.ref }}\njobs:\n" + job(
        "a"
    )
    assert at(one(errors_of(text), "expressions are not allowed")) == where(text, "${{")
    workflow = load(
        "on: push\njobs:\n"
        + job("a", "    defaults:\n      run:\n        working-directory: ${{ env.D }}\n")
    )
    defaults = workflow.jobs["a"].defaults
    assert defaults is not None and defaults.working_directory == "${{ env.D }}"


def test_permissions() -> None:
    workflow = load("on: push\npermissions: {}\njobs:\n" + job("a", "    permissions: write-all\n"))
    assert (workflow.permissions, workflow.jobs["a"].permissions) == ({}, "write-all")
    text = "on: push\npermissions:\n  contents: maybe\n  pull-request: write\njobs:\n" + job("a")
    diagnostics = errors_of(text)
    assert at(one(diagnostics, "must be read, write or none")) == where(text, "maybe")
    assert one(diagnostics, "unknown key 'pull-request'").hint == "did you mean 'pull-requests'?"
    assert one(errors_of("on: push\npermissions: all\njobs:\n" + job("a")), "unknown permissions")


# --- matrices -------------------------------------------------------------------------------


def test_invalid_matrices_are_reported() -> None:
    text = "on: push\njobs:\n" + job("a", "    strategy:\n      matrix:\n        os: []\n")
    assert at(one(errors_of(text), "does not contain any values")) == where(text, "[]")


def test_a_matrix_over_256_combinations_is_an_error() -> None:
    # "A matrix can generate a maximum of 256 jobs per workflow run."
    values = ", ".join(str(i) for i in range(17))
    body = f"    strategy:\n      matrix:\n        x: [{values}]\n        y: [{values}]\n"
    assert one(errors_of("on: push\njobs:\n" + job("a", body)), "289 jobs")
    ok = ", ".join(str(i) for i in range(16))
    body = f"    strategy:\n      matrix:\n        x: [{ok}]\n        y: [{ok}]\n"
    assert load("on: push\njobs:\n" + job("a", body)).jobs["a"].strategy is not None


def test_a_matrix_with_expressions_is_only_checked_for_valid_expressions() -> None:
    workflow = load(
        "on: push\njobs:\n"
        + job("a", "    strategy:\n      matrix: ${{ fromJSON(needs.setup.outputs.m) }}\n")
    )
    strategy = workflow.jobs["a"].strategy
    assert strategy is not None and strategy.matrix == "${{ fromJSON(needs.setup.outputs.m) }}"
    # jobs.<job_id>.strategy may use github, needs, vars, inputs: not matrix or steps.
    text = "on: push\njobs:\n" + job(
        "a", "    strategy:\n      matrix:\n        os: ['${{ steps.x.outputs.os }}']\n"
    )
    diagnostic = one(errors_of(text), "steps")
    assert at(diagnostic) == where(text, "steps.x")


# --- expressions and the context-availability table ----------------------------------------


@pytest.mark.parametrize(
    ("key_yaml", "expression"),
    [
        # jobs.<job_id>.if: github, needs, vars, inputs + status functions
        ("    if: ${{ always() && needs.a.result == 'success' }}\n", None),
        ("    if: ${{ steps.x.outputs.y }}\n", "steps"),
        ("    if: ${{ matrix.os == 'x' }}\n", "matrix"),
        ("    if: hashFiles('x') != ''\n", "hashFiles"),
        # jobs.<job_id>.runs-on: github, needs, strategy, matrix, vars, inputs
        (None, "runner"),
        # jobs.<job_id>.env: ... secrets, but not env
        ("    env:\n      A: ${{ secrets.TOKEN }}\n", None),
        ("    env:\n      A: ${{ env.B }}\n", "env.B"),
        # jobs.<job_id>.timeout-minutes: no secrets
        ("    timeout-minutes: ${{ secrets.T }}\n", "secrets"),
        # jobs.<job_id>.outputs: steps, job, runner, env, secrets ...
        ("    outputs:\n      o: ${{ steps.s.outputs.o }}-${{ runner.os }}\n", None),
        # jobs.<job_id>.environment.url may use steps, the name may not
        ("    environment:\n      name: prod\n      url: ${{ steps.d.outputs.url }}\n", None),
        ("    environment:\n      name: ${{ steps.d.outputs.env }}\n", "steps"),
    ],
)
def test_job_keys_use_only_their_contexts(key_yaml: str | None, expression: str | None) -> None:
    if key_yaml is None:
        text = "on: push\njobs:\n  a:\n    runs-on: ${{ runner.os }}\n    steps: [{run: x}]\n"
    else:
        text = "on: push\njobs:\n  a:\n    needs: b\n" + key_yaml + STEPS + job("b")
    if expression is None:
        load(text)
        return
    diagnostic = one(errors_of(text), "invalid expression")
    assert at(diagnostic) == where(text, f"{expression}")


@pytest.mark.parametrize(
    ("step_yaml", "bad"),
    [
        # steps.if: no secrets (GitHub's table), hashFiles and status functions allowed
        ("if: ${{ failure() && hashFiles('a') != '' }}", None),
        ("if: secrets.TOKEN != ''", "secrets"),
        # steps.run/with/env: everything of the step row incl. secrets and hashFiles
        ("run: echo ${{ secrets.A }} ${{ hashFiles('x') }} ${{ steps.s.outputs.o }}", None),
        ("run: echo ${{ always() }}", "always"),
        ("run: echo ${{ jobs.x.outputs.y }}", "jobs.x"),
        ("run: echo ${{ nope(1) }}", "nope"),
    ],
)
def test_step_keys_use_only_their_contexts(step_yaml: str, bad: str | None) -> None:
    text = f"on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - {step_yaml}\n"
    if not step_yaml.startswith("run"):
        text += "        run: x\n"
    if bad is None:
        load(text)
        return
    diagnostic = one(errors_of(text), "invalid expression")
    assert at(diagnostic) == where(text, bad)


def test_syntax_errors_point_inside_the_template() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ 1 == }}\n"
    diagnostic = one(errors_of(text), "invalid expression")
    line, col = at(diagnostic)
    assert line == 6
    assert where(text, "${{")[1] + 3 <= col <= where(text, "}}")[1]


def test_container_and_services_use_their_rows_of_the_table() -> None:
    # container.credentials and services.<id>.env may use secrets; the image may not.
    body = (
        "    container:\n      image: node:20\n"
        "      credentials: {username: u, password: '${{ secrets.PW }}'}\n"
        "    services:\n      db:\n        image: postgres\n"
        "        env: {PASSWORD: '${{ secrets.DB }}'}\n"
    )
    workflow = load("on: push\njobs:\n" + job("a", body))
    assert len(workflow.warnings) == 2  # container and services are not honoured yet
    text = "on: push\njobs:\n" + job("a", "    container: ${{ secrets.IMAGE }}\n")
    assert at(one(errors_of(text), "invalid expression")) == where(text, "secrets")


def test_workflow_level_keys_use_only_their_contexts() -> None:
    # env: github, secrets, inputs, vars; run-name: github, inputs, vars.
    text = (
        "run-name: ${{ secrets.X }}\non: push\nenv:\n  A: ${{ secrets.X }}\n  B: ${{ env.A }}\n"
        "jobs:\n" + job("a")
    )
    diagnostics = errors_of(text)
    assert len(diagnostics) == 2
    assert at(diagnostics[0]) == where(text, "secrets")
    assert at(diagnostics[1]) == where(text, "env.A")


def test_expression_errors_inside_block_scalars_point_at_the_fault() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - run: |
                  echo start
                  echo ${{ github.sha }} ${{ bogus.value }}
        """
    diagnostic = one(errors_of(text), "invalid expression")
    assert at(diagnostic) == where(text, "bogus")


def test_expression_errors_in_quoted_and_multiline_scalars_point_at_the_fault() -> None:
    text = """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - name: "Build ${{ bogus.x }}"
                run: echo one
                  ${{ nope.y }}
        """
    diagnostics = errors_of(text)
    assert at(one(diagnostics, "bogus")) == where(text, "bogus")
    assert at(one(diagnostics, "nope")) == where(text, "nope")


def test_bare_if_conditions_are_expressions() -> None:
    text = "on: push\njobs:\n  a:\n    if: github.ref == 'x' && bogus\n" + STEPS
    assert at(one(errors_of(text), "invalid expression")) == where(text, "bogus")


def test_if_mixing_template_and_text_warns_that_it_is_always_true() -> None:
    workflow = load("on: push\njobs:\n  a:\n    if: true && ${{ false }}\n" + STEPS)
    [warning] = workflow.warnings
    assert "always true" in warning.message


def test_unclosed_template_is_an_error() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.sha\n"
    assert at(one(errors_of(text), "invalid expression")) == where(text, "${{")


def test_expressions_are_not_allowed_in_uses_and_needs() -> None:
    text = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: a/b@${{ env.V }}\n"
    assert at(one(errors_of(text), "not allowed")) == where(text, "${{")


# --- on: ------------------------------------------------------------------------------------


def test_branches_and_branches_ignore_together_are_an_error() -> None:
    # "You cannot use both the branches and branches-ignore filters for the same event."
    text = "on:\n  push:\n    branches: [main]\n    branches-ignore: [dev]\njobs:\n" + job("a")
    assert one(errors_of(text), "both 'branches' and 'branches-ignore'")


def test_filters_of_other_events_are_not_accepted() -> None:
    text = "on:\n  pull_request:\n    tags: [v1]\n  workflow_dispatch:\n    branches: [x]\njobs:\n"
    diagnostics = errors_of(text + job("a"))
    assert one(diagnostics, "unknown key 'tags' in on.pull_request")
    assert one(diagnostics, "unknown key 'branches' in on.workflow_dispatch")


def test_activity_types_are_checked() -> None:
    text = "on:\n  pull_request:\n    types: [opened, synchronise]\njobs:\n" + job("a")
    diagnostic = one(errors_of(text), "unknown activity type 'synchronise'")
    assert diagnostic.hint == "did you mean 'synchronize'?"
    assert at(diagnostic) == where(text, "synchronise")


def test_workflow_run_names_the_workflows_it_follows() -> None:
    text = "on:\n  workflow_run:\n    types: [completed]\njobs:\n" + job("a")
    assert at(one(errors_of(text), "needs `workflows`")) == where(text, "workflow_run")
    workflow = load("on:\n  workflow_run:\n    workflows: [CI]\njobs:\n" + job("a"))
    assert workflow.on["workflow_run"].config["workflows"] == ["CI"]


def test_workflow_dispatch_inputs() -> None:
    text = """\
        on:
          workflow_dispatch:
            inputs:
              level:
                type: choice
                options: [info, debug]
                default: warn
              dry-run:
                type: boolean
                default: maybe
              count:
                type: integer
        jobs:
          a:
            runs-on: x
            steps: [{run: x}]
        """
    diagnostics = errors_of(text)
    assert one(diagnostics, "default 'warn' of input 'level' is not one of its options")
    assert one(diagnostics, "default of boolean input 'dry-run' must be true or false")
    assert at(one(diagnostics, "unknown input type 'integer'")) == where(text, "integer")


def test_workflow_call_inputs_need_a_type_and_outputs_a_value() -> None:
    text = """\
        on:
          workflow_call:
            inputs:
              a: {description: x}
            outputs:
              o: {description: y}
        jobs:
          a:
            runs-on: x
            steps: [{run: x}]
        """
    diagnostics = errors_of(text)
    assert one(diagnostics, "input 'a' of workflow_call needs a `type`")
    assert one(diagnostics, "output 'o' of workflow_call needs a `value`")


def test_schedule_needs_cron_entries() -> None:
    text = "on:\n  schedule:\n    - cron: '0 25 * * *'\n    - crn: x\njobs:\n" + job("a")
    diagnostics = errors_of(text)
    diagnostic = one(diagnostics, "invalid cron expression '0 25 * * *'")
    assert at(diagnostic) == where(text, "'0 25")
    assert one(diagnostics, "unknown key 'crn'")
    assert one(errors_of("on: schedule\njobs:\n" + job("a")), "list of cron entries")


@pytest.mark.parametrize(
    "cron",
    ["* * * * *", "*/5 * * * *", "0 0 1,15 * *", "15 4 * JAN-JUN MON-FRI", "0 9-17/2 * * 1-5"],
)
def test_valid_cron_expressions(cron: str) -> None:
    assert cron_fault(cron) is None


@pytest.mark.parametrize(
    ("cron", "fault"),
    [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "out of range 0-59"),
        ("* 24 * * *", "out of range 0-23"),
        ("* * 0 * *", "out of range 1-31"),
        ("* * * 13 *", "out of range 1-12"),
        ("* * * * 7", "out of range 0-6"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "backwards"),
        ("* * * FOO *", "not a number"),
    ],
)
def test_invalid_cron_expressions(cron: str, fault: str) -> None:
    found = cron_fault(cron)
    assert found is not None and fault in found


def test_on_must_name_an_event() -> None:
    assert one(errors_of("on: []\njobs:\n" + job("a")), "at least one event")
    assert one(errors_of("on: {}\njobs:\n" + job("a")), "at least one event")


# --- warnings: what Stageline cannot honour yet --------------------------------------------


def test_unsupported_features_are_warnings_not_silence() -> None:
    workflow = load(
        "on: push\njobs:\n  a:\n    runs-on: windows-latest\n"
        "    container: node:20\n    services:\n      db: {image: postgres}\n"
        "    steps: [{run: x}]\n"
        "  call:\n    uses: octo/repo/.github/workflows/ci.yml@main\n    secrets: inherit\n"
    )
    messages = [w.message for w in workflow.warnings]
    assert all(w.severity == "warning" for w in workflow.warnings)
    assert any("windows-latest" in m for m in messages)
    assert any("`container` is not supported" in m for m in messages)
    assert any("`services` are not supported" in m for m in messages)
    assert not any("reusable workflow" in m for m in messages)  # calls run now
    assert len(messages) == 3


def test_ubuntu_and_self_hosted_runners_do_not_warn() -> None:
    workflow = load(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{run: x}]\n"
        "  b:\n    runs-on: [self-hosted, linux, x64]\n    steps: [{run: x}]\n"
        "  c:\n    runs-on: ubuntu-22.04\n    steps: [{run: x}]\n"
    )
    assert workflow.warnings == []


def test_a_reusable_workflow_job_cannot_have_steps() -> None:
    text = "on: push\njobs:\n  a:\n    uses: o/r/.github/workflows/x.yml@v1\n" + STEPS
    diagnostics = errors_of(text)
    assert one(diagnostics, "`steps` cannot be used in a job that calls a reusable workflow")


def test_with_and_secrets_need_a_job_level_uses() -> None:
    assert one(
        errors_of("on: push\njobs:\n" + job("a", "    with: {a: 1}\n")),
        "`with` is only valid with a job-level `uses`",
    )


# --- all errors at once ----------------------------------------------------------------------


def test_every_error_of_a_file_is_reported_in_file_order() -> None:
    text = """\
        on: [push, pushh]
        jobs:
          a:
            runs-on: ubuntu-latest
            needs: [missing]
            timeout-minutes: never
            steps:
              - name: nothing
              - run: echo ${{ nope.x }}
          b:
            needs: b
            runs-on: ubuntu-latest
            stepz: []
        """
    with pytest.raises(WorkflowError) as caught:
        load(text)
    err = caught.value
    messages = [d.message for d in err.diagnostics]
    # pushh, missing, never, the empty step, nope, b's cycle, stepz, b without steps
    assert len(messages) == 8, messages
    positions = [at(d) for d in err.diagnostics]
    assert positions == sorted(positions)
    assert str(err).count("error:") == 8
    assert err.position is not None and (err.position.line, err.position.col) == where(
        text, "pushh"
    )


def test_validate_workflow_checks_a_model_built_in_code() -> None:
    from stageline.errors import Position

    here = Position("code.yml")
    workflow = Workflow(
        here,
        jobs={
            "a": Job(here, id="a", needs=["b"]),
            "b": Job(here, id="b", needs=["a", "zz"]),
            "m": Job(here, id="m", strategy=Strategy(here, matrix={"x": []})),
        },
    )
    messages = [d.message for d in validate_workflow(workflow)]
    assert any("needs unknown job 'zz'" in m for m in messages)
    assert any("cycle" in m for m in messages)
    assert any("does not contain any values" in m for m in messages)
