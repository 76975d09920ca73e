"""Pitfall lint on spec objects built here (the positions are ours, so we know them)."""

from __future__ import annotations

from typing import Any

from stageline.deploy.config import StagelineConfig, parse_config
from stageline.deploy.lint import (
    is_build_step,
    is_production,
    is_test_job,
    is_test_step,
    lint_workflow,
)
from stageline.errors import Position
from stageline.workflow.model import EnvironmentRef, Job, Step, Workflow

PATH = ".github/workflows/ci.yml"
GOOD_ENVS = """\
teams: {sre: [dave]}
environments:
  staging:
    monitor: {duration: 30s, checks: [{name: up, command: 'true'}]}
    rollback: {mode: auto}
  production:
    approval: {rules: [{reviewers: ['@sre']}]}
    monitor: {duration: 30s, checks: [{name: up, command: 'true'}]}
    rollback: {mode: auto}
"""


def at(line: int, col: int = 3) -> Position:
    return Position(PATH, line, col)


def step(index: int, line: int, run: str | None = None, **kw: Any) -> Step:
    positions = {"continue-on-error": at(line, 26)} if "continue_on_error" in kw else {}
    return Step(at(line, 9), index=index, run=run, positions=positions, **kw)


def job(
    job_id: str,
    line: int,
    *steps: Step,
    needs: tuple[str, ...] = (),
    env: str | None = None,
    **kw: Any,
) -> Job:
    positions = {"needs": at(line + 1, 12)}
    if env is not None:
        positions["environment"] = at(line + 2, 18)
    if "continue_on_error" in kw:
        positions["continue-on-error"] = at(line + 3, 24)
    return Job(
        at(line),
        id=job_id,
        needs=list(needs),
        environment=EnvironmentRef(at(line + 2, 18), name=env) if env else None,
        steps=list(steps),
        positions=positions,
        **kw,
    )


def workflow(*jobs: Job) -> Workflow:
    return Workflow(Position(PATH), path=PATH, jobs={j.id: j for j in jobs})


def config(text: str = GOOD_ENVS) -> StagelineConfig:
    return parse_config(text, ".stageline.yml")


def rendered(wf: Workflow, cfg: StagelineConfig | None = None) -> list[str]:
    return [d.render().split("\n")[0] for d in lint_workflow(wf, cfg or config())]


def pipeline(**overrides: Job) -> Workflow:
    """build → test, lint → staging → production: a pipeline with no pitfalls."""
    jobs = {
        "build": job("build", 10, step(0, 13, "make build")),
        "test": job("test", 20, step(0, 23, "pytest -q"), needs=("build",)),
        "lint": job("lint", 30, step(0, 33, "ruff check ."), needs=("build",)),
        "staging": job("staging", 40, step(0, 43, "./deploy.sh"), needs=("test", "lint"),
                       env="staging"),
        "production": job("production", 50, step(0, 53, "./deploy.sh"), needs=("staging",),
                          env="production"),
    }  # fmt: skip
    jobs.update(overrides)
    return workflow(*jobs.values())


def test_a_sound_pipeline_has_no_findings() -> None:
    assert rendered(pipeline()) == []


def test_production_deploy_must_need_every_test_job() -> None:
    early = job("production", 50, step(0, 53, "./deploy.sh"), needs=("test",), env="production")
    assert rendered(pipeline(production=early)) == [
        f"{PATH}:51:12: warning: production deploy 'production' does not need test job(s) 'lint'"
    ]


def test_production_without_any_test_job() -> None:
    wf = workflow(job("ship", 10, step(0, 13, "./deploy.sh"), env="prod-eu"))
    cfg = config(GOOD_ENVS.replace("production:", "prod-eu:"))
    assert rendered(wf, cfg) == [
        f"{PATH}:10:3: warning: production deploy 'ship' runs without any test job before it"
    ]


def test_continue_on_error_upstream_of_a_deploy() -> None:
    flaky_job = job("test", 20, step(0, 23, "pytest -q"), needs=("build",), continue_on_error=True)
    flaky_step = job(
        "lint",
        30,
        step(0, 33, "npm test -- --ci", name=None, continue_on_error="${{ matrix.experimental }}"),
        needs=("build",),
    )
    assert rendered(pipeline(test=flaky_job, lint=flaky_step)) == [
        f"{PATH}:23:24: warning: test job 'test' has continue-on-error and a deploy depends on it",
        f"{PATH}:33:26: warning: test step 'npm test -- --ci' of job 'lint' has continue-on-error "
        "and a deploy depends on it",
    ]
    # Not upstream of any deploy: not a pitfall. Literal false: not one either.
    off = job("test", 20, step(0, 23, "pytest"), continue_on_error="false")
    assert rendered(pipeline(test=off)) == []
    alone = workflow(job("test", 20, step(0, 23, "pytest"), continue_on_error=True))
    assert rendered(alone) == []


def test_environment_without_monitor_or_rollback() -> None:
    cfg = config(
        "environments:\n  staging:\n    rollback: {mode: auto}\n"
        "  production:\n    approval: {rules: [{reviewers: [x]}]}\n"
        "    monitor: {duration: 1s, checks: [{name: a, command: 'true'}]}\n"
    )
    assert rendered(pipeline(), cfg) == [
        f"{PATH}:42:18: warning: environment 'staging' has no monitor in .stageline.yml",
        f"{PATH}:52:18: warning: environment 'production' has no rollback in .stageline.yml",
    ]


def test_unconfigured_production_needs_monitor_rollback_and_approval() -> None:
    staging_only = (
        "environments:\n  staging:\n    rollback: {mode: auto}\n"
        "    monitor: {duration: 30s, checks: [{name: up, command: 'true'}]}\n"
    )
    found = lint_workflow(pipeline(), config(staging_only))
    messages = [d.message for d in found]
    assert messages == [
        "environment 'production' has no monitor (not configured)",
        "environment 'production' has no rollback (not configured)",
        "deploys to 'production' need no approval",
    ]
    assert all(d.severity == "warning" and d.hint for d in found)


def test_build_test_and_deploy_in_one_job() -> None:
    wf = workflow(
        job(
            "all-in-one",
            10,
            step(0, 13, "npm ci && npm run build"),
            step(1, 14, "npm test"),
            step(2, 15, "./deploy.sh"),
            env="staging",
        )
    )
    assert rendered(wf) == [
        f"{PATH}:10:3: warning: job 'all-in-one' builds, tests and deploys at once"
    ]


def test_expression_environments_are_not_judged_by_name() -> None:
    dynamic = job("production", 50, step(0, 53, "./deploy.sh"), env="${{ inputs.target }}")
    assert rendered(pipeline(production=dynamic)) == []


def test_heuristics() -> None:
    assert [is_production(n) for n in ("production", "Prod", "eu-prod-1", "live", "prd")] == [
        True
    ] * 5
    assert [is_production(n) for n in ("pre-prod", "staging", "products", "preprod", "dev")] == [
        False
    ] * 5
    assert is_test_step(Step(at(1), run="python -m pytest tests"))
    assert is_test_step(Step(at(1), name="Unit tests", run="./run.sh"))
    assert not is_test_step(Step(at(1), run="pip install pytest-cov"))
    assert is_build_step(Step(at(1), run="make"))
    assert is_build_step(Step(at(1), run="docker build -t app ."))
    assert is_build_step(Step(at(1), uses="docker/build-push-action@v6"))
    assert not is_build_step(Step(at(1), run="make test"))
    assert not is_build_step(Step(at(1), run="./makefile-check.sh"))
    assert is_test_job(Job(at(1), id="check-types"))
    assert not is_test_job(Job(at(1), id="test", environment=EnvironmentRef(at(1), name="qa")))


def test_deploys_without_an_environment() -> None:
    """The issue's example workflow deploys from jobs that name no environment."""
    wf = workflow(
        job("build", 8, step(0, 13, "npm run build", name="Build")),
        job("test", 15, step(0, 21, "npm test", name="Run Tests"), needs=("build",)),
        job("deploy-staging", 23, step(0, 28, "./deploy-staging.sh", name="Deploy Staging"),
            needs=("test",)),
        job("approval", 30, step(0, 35, None, name="Wait for Approval",
                                 uses="hmarr/auto-approve-action@v2"), needs=("deploy-staging",)),
        job("publish", 37, step(0, 41, "./upload.sh", name="Ship it"), needs=("approval",)),
    )  # fmt: skip
    assert rendered(wf) == [
        f"{PATH}:23:3: warning: job 'deploy-staging' looks like a deploy to an environment but "
        "has no environment:",
        f"{PATH}:37:3: warning: job 'publish' looks like a deploy to an environment but has no "
        "environment:",
    ]
    prod = workflow(job("release", 5, step(0, 8, "./go.sh"), name="Release to prod"))
    assert rendered(prod) == [
        f"{PATH}:5:3: warning: job 'release' looks like a deploy to production but has no "
        "environment:"
    ]


def _approver(line: int) -> Step:
    return Step(
        at(line, 9),
        index=0,
        uses="hmarr/auto-approve-action@v3",
        positions={"uses": at(line, 15)},
    )


def _with_approval(approval: str) -> StagelineConfig:
    return config(
        GOOD_ENVS.replace("approval: {rules: [{reviewers: ['@sre']}]}", f"approval: {approval}")
    )


def test_an_auto_approve_step_that_can_pass_a_gate_alone() -> None:
    wf = pipeline(staging=job("staging", 40, _approver(43), needs=("test", "lint")))
    # the step counts nowhere without allow_action: nothing to say
    assert rendered(wf) == []
    allowed = _with_approval("{rules: [{reviewers: ['@sre']}], allow_action: true}")
    assert rendered(wf, allowed) == [
        f"{PATH}:43:15: warning: hmarr/auto-approve-action@v3 in job 'staging' can approve "
        "deploy 'production' to 'production' by itself"
    ]
    two = _with_approval("{rules: [{reviewers: ['@sre', erin], required: 2}], allow_action: true}")
    assert rendered(wf, two) == []
    own = _with_approval(
        "{rules: [{reviewers: ['@sre']}], allow_action: true, prevent_self_review: true}"
    )
    assert rendered(wf, own) == []
    # downstream of the deploy, it cannot approve it
    after = pipeline(
        staging=job("staging", 40, step(0, 43, "./deploy.sh"), needs=("test", "lint"),
                    env="staging"),
        publish=job("publish", 60, _approver(63), needs=("production",)),
    )  # fmt: skip
    assert rendered(after, allowed) == []


def test_production_decided_at_terminals_while_a_server_is_configured() -> None:
    found = [
        d.render().split("\n")[0]
        for d in lint_workflow(pipeline(), config(), server="http://ci.example:8750")
    ]
    assert found == [
        f"{PATH}:52:18: warning: deploys to 'production' can be approved at any terminal "
        "although a team server is configured (http://ci.example:8750)"
    ]
    on_server = _with_approval("{rules: [{reviewers: ['@sre']}], where: server}")
    assert lint_workflow(pipeline(), on_server, server="http://ci.example:8750") == []
    assert lint_workflow(pipeline(), config(), server=None) == []  # no server: nothing to say
