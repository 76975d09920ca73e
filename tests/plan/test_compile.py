"""compile_plan: legs, selection, defaults, deferred matrices; expected names follow
GitHub's documented matrix examples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stageline.errors import Position, RunError, WorkflowError
from stageline.plan import Event, Plan, compile_plan, expand_deferred
from stageline.workflow.model import (
    EnvironmentRef,
    Job,
    RunDefaults,
    Step,
    Strategy,
    Workflow,
)

PATH = ".github/workflows/ci.yml"
PUSH = Event(name="push", ref="refs/heads/main", sha="abc123", repository="o/r")


def at(line: int, col: int = 3) -> Position:
    return Position(PATH, line, col)


def job(job_id: str, needs: list[str] | None = None, **fields: Any) -> Job:
    steps = fields.pop("steps", [Step(at(30, 9), index=0, run=f"echo {job_id}")])
    return Job(at(10), id=job_id, needs=needs or [], steps=steps, **fields)


def matrix_job(job_id: str, matrix: dict[str, Any] | str, **fields: Any) -> Job:
    strategy = Strategy(
        at(12, 5),
        matrix=matrix,
        fail_fast=fields.pop("fail_fast", True),
        max_parallel=fields.pop("max_parallel", None),
        positions={"matrix": at(13, 7)},
    )
    return job(job_id, strategy=strategy, **fields)


def workflow(*jobs: Job, **fields: Any) -> Workflow:
    return Workflow(at(1, 1), path=PATH, jobs={j.id: j for j in jobs}, **fields)


def multi_stage() -> Workflow:
    return workflow(
        job("build"),
        job("test", ["build"]),
        job("deploy-staging", ["test"]),
        job("approval", ["deploy-staging"]),
        job("deploy-production", ["approval"]),
        name="Multi-Stage CI/CD",
    )


def test_one_planned_job_per_job_in_file_order() -> None:
    plan = compile_plan(multi_stage(), PUSH)
    assert plan.workflow_name == "Multi-Stage CI/CD"
    assert plan.workflow_path == PATH
    assert plan.event is PUSH
    assert [(j.key, j.job_id, j.name, j.needs) for j in plan.jobs] == [
        ("build", "build", "build", []),
        ("test", "test", "test", ["build"]),
        ("deploy-staging", "deploy-staging", "deploy-staging", ["test"]),
        ("approval", "approval", "approval", ["deploy-staging"]),
        ("deploy-production", "deploy-production", "deploy-production", ["approval"]),
    ]
    step = plan.job("build").steps[0]
    assert (step.run, step.position) == ("echo build", at(30, 9))
    assert plan.job("build").position == at(10)


def test_matrix_legs_are_named_like_github() -> None:
    wf = workflow(
        job("build"),
        matrix_job(
            "test",
            {
                "os": ["windows-latest", "ubuntu-latest"],
                "node": [14, 16],
                "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
            },
            needs=["build"],
            fail_fast=False,
            max_parallel=2,
        ),
    )
    legs = compile_plan(wf, PUSH).jobs[1:]
    assert [leg.name for leg in legs] == [
        "test (windows-latest, 14)",
        "test (windows-latest, 16, 6)",
        "test (ubuntu-latest, 14)",
        "test (ubuntu-latest, 16)",
    ]
    assert [leg.key for leg in legs] == ["test.1", "test.2", "test.3", "test.4"]
    assert [leg.strategy_index for leg in legs] == [0, 1, 2, 3]
    assert {leg.strategy_total for leg in legs} == {4}
    assert legs[1].matrix == {"os": "windows-latest", "node": 16, "npm": 6}
    assert all(leg.job_id == "test" and leg.needs == ["build"] for leg in legs)
    assert all(leg.fail_fast is False and leg.max_parallel == 2 for leg in legs)
    assert all(leg.deferred_matrix is None for leg in legs)


def test_a_custom_name_without_expressions_gets_the_values_appended() -> None:
    wf = workflow(matrix_job("t", {"v": [1, 2]}, name="Unit tests"))
    assert [leg.name for leg in compile_plan(wf, PUSH).jobs] == [
        "Unit tests (1)",
        "Unit tests (2)",
    ]


def test_only_jobs_selects_what_they_need_transitively() -> None:
    plan = compile_plan(multi_stage(), PUSH, only_jobs=["deploy-staging"])
    assert [j.key for j in plan.jobs] == ["build", "test", "deploy-staging"]
    plan = compile_plan(multi_stage(), PUSH, only_jobs=["build", "approval"])
    assert [j.key for j in plan.jobs] == ["build", "test", "deploy-staging", "approval"]


def test_an_unknown_job_lists_the_valid_ones() -> None:
    with pytest.raises(RunError) as caught:
        compile_plan(multi_stage(), PUSH, only_jobs=["deploy"])
    assert "'deploy'" in caught.value.message
    assert caught.value.hint is not None
    assert "build, test, deploy-staging, approval, deploy-production" in caught.value.hint


def test_matrix_filter_keeps_matching_legs_and_their_indices() -> None:
    wf = workflow(
        matrix_job("test", {"python": ["3.11", "3.12"], "os": ["ubuntu", "macos"]}),
        matrix_job("lint", {"tool": ["ruff", "mypy"]}),
        job("build"),
    )
    plan = compile_plan(wf, PUSH, matrix_filter={"os": ["ubuntu"]})
    assert [(j.key, j.name, j.strategy_index, j.strategy_total) for j in plan.jobs] == [
        ("test.1", "test (3.11, ubuntu)", 0, 4),
        ("test.3", "test (3.12, ubuntu)", 2, 4),
        ("lint.1", "lint (ruff)", 0, 2),
        ("lint.2", "lint (mypy)", 1, 2),
        ("build", "build", 0, 1),
    ]


def test_matrix_filter_compares_values_as_text() -> None:
    wf = workflow(matrix_job("test", {"node": [14, 16], "flag": [True, False]}))
    plan = compile_plan(wf, PUSH, matrix_filter={"node": ["16"], "flag": ["true"]})
    assert [j.matrix for j in plan.jobs] == [{"node": 16, "flag": True}]


def test_matrix_filter_with_several_values_for_one_key_keeps_any_of_them() -> None:
    wf = workflow(matrix_job("test", {"python": ["3.10", "3.11", "3.12"]}))
    plan = compile_plan(wf, PUSH, matrix_filter={"python": ["3.10", "3.12"]})
    assert [j.key for j in plan.jobs] == ["test.1", "test.3"]


def test_matrix_filter_that_leaves_nothing_says_what_exists() -> None:
    wf = workflow(matrix_job("test", {"os": ["ubuntu", "macos"]}))
    with pytest.raises(RunError) as caught:
        compile_plan(wf, PUSH, matrix_filter={"os": ["windows"]})
    assert "leaves no leg of job 'test'" in caught.value.message
    assert caught.value.hint == "values in this matrix: os: ubuntu, macos"


def test_invalid_matrix_is_a_workflow_error_at_the_matrix() -> None:
    wf = workflow(matrix_job("test", {"os": ["a"], "include": "oops"}))
    with pytest.raises(WorkflowError) as caught:
        compile_plan(wf, PUSH)
    assert caught.value.position == at(13, 7)


def test_invalid_matrix_vector_is_reported_at_its_key() -> None:
    # The loader records each key's value position as ``matrix.<key>``.
    test = matrix_job("test", {"os": "ubuntu", "node": [1]})
    assert test.strategy is not None
    test.strategy.positions["matrix.os"] = at(14, 11)
    with pytest.raises(WorkflowError) as caught:
        compile_plan(workflow(test), PUSH)
    assert caught.value.position == at(14, 11)
    assert "matrix vector 'os' must be a list" in caught.value.message


def test_job_defaults_override_workflow_defaults_key_by_key() -> None:
    wf = workflow(
        job("a", defaults=RunDefaults(at(5), working_directory="app")),
        job("b"),
        job("c", defaults=RunDefaults(at(5), shell="sh")),
        defaults=RunDefaults(at(3), shell="bash", working_directory="src"),
    )
    plan = compile_plan(wf, PUSH)
    assert [(j.defaults_shell, j.defaults_working_directory) for j in plan.jobs] == [
        ("bash", "app"),
        ("bash", "src"),
        ("sh", "src"),
    ]


def test_environment_and_expressions_are_kept_as_written() -> None:
    url = "${{ steps.deploy.outputs.url }}"
    wf = workflow(
        job(
            "deploy",
            environment=EnvironmentRef(at(11), name="staging", url=url),
            if_="github.ref == 'refs/heads/main'",
            env={"TARGET": "${{ vars.TARGET }}"},
            runs_on="${{ matrix.os }}",
        ),
        env={"CI": "true"},
        run_name="Deploy by @${{ github.actor }}",
    )
    plan = compile_plan(wf, PUSH)
    deploy = plan.job("deploy")
    assert deploy.environment is not None
    assert (deploy.environment.name, deploy.environment.url) == ("staging", url)
    assert deploy.if_ == "github.ref == 'refs/heads/main'"
    assert deploy.env == {"TARGET": "${{ vars.TARGET }}"}
    assert plan.env == {"CI": "true"}
    assert plan.run_name == "Deploy by @${{ github.actor }}"


def test_plan_crosses_a_process_boundary_as_json() -> None:
    wf = workflow(job("build"), matrix_job("test", {"os": ["a", "b"]}, needs=["build"]))
    plan = compile_plan(wf, PUSH)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan


# --- expressions in matrices (need stageline.expressions) ---------------------------


def test_matrix_from_event_payload_is_expanded_at_compile_time() -> None:
    # Docs: "Using contexts to create matrices" (repository_dispatch client_payload).
    wf = workflow(
        matrix_job("example_matrix", {"version": "${{ github.event.client_payload.versions }}"})
    )
    event = Event(
        name="repository_dispatch",
        payload={"event_type": "test", "client_payload": {"versions": [12, 14, 16]}},
    )
    legs = compile_plan(wf, event).jobs
    assert [leg.matrix for leg in legs] == [{"version": 12}, {"version": 14}, {"version": 16}]
    assert [leg.name for leg in legs] == [
        "example_matrix (12)",
        "example_matrix (14)",
        "example_matrix (16)",
    ]


def test_matrix_from_needs_is_deferred_then_expanded() -> None:
    # Docs: "Using an output to define two matrices".
    colors = "${{ fromJSON(needs.define-matrix.outputs.colors) }}"
    wf = workflow(
        job("define-matrix", outputs={"colors": "${{ steps.colors.outputs.colors }}"}),
        matrix_job("produce-artifacts", {"color": colors}, needs=["define-matrix"]),
    )
    plan = compile_plan(wf, PUSH)
    deferred = plan.job("produce-artifacts")
    assert deferred.deferred_matrix == {"color": colors}
    assert deferred.matrix is None
    needs = {
        "define-matrix": {"result": "success", "outputs": {"colors": '["red", "green", "blue"]'}}
    }
    legs = expand_deferred(deferred, {"needs": needs})
    assert [(leg.key, leg.name, leg.matrix) for leg in legs] == [
        ("produce-artifacts.1", "produce-artifacts (red)", {"color": "red"}),
        ("produce-artifacts.2", "produce-artifacts (green)", {"color": "green"}),
        ("produce-artifacts.3", "produce-artifacts (blue)", {"color": "blue"}),
    ]
    assert all(leg.deferred_matrix is None and leg.strategy_total == 3 for leg in legs)
    filtered = expand_deferred(deferred, {"needs": needs}, matrix_filter={"color": ["green"]})
    assert [leg.key for leg in filtered] == ["produce-artifacts.2"]


def test_whole_matrix_expression_from_needs() -> None:
    wf = workflow(
        job("setup"),
        matrix_job("build", "${{ fromJSON(needs.setup.outputs.matrix) }}", needs=["setup"]),
    )
    deferred = compile_plan(wf, PUSH).job("build")
    matrix = '{"os": ["linux", "mac"], "include": [{"os": "mac", "arch": "arm64"}]}'
    legs = expand_deferred(deferred, {"needs": {"setup": {"outputs": {"matrix": matrix}}}})
    assert [leg.name for leg in legs] == ["build (linux)", "build (mac, arm64)"]


def test_a_name_with_matrix_expressions_is_evaluated_per_leg() -> None:
    wf = workflow(matrix_job("test", {"os": ["ubuntu", "macos"]}, name="Test on ${{ matrix.os }}"))
    assert [leg.name for leg in compile_plan(wf, PUSH).jobs] == ["Test on ubuntu", "Test on macos"]


def test_matrix_expression_with_an_unknown_context_is_a_positioned_error() -> None:
    wf = workflow(matrix_job("test", {"os": "${{ fromJSON(nosuch.value) }}"}))
    with pytest.raises(WorkflowError) as caught:
        compile_plan(wf, PUSH)
    assert caught.value.position is not None
    assert caught.value.position.path == PATH


def test_a_matrix_key_from_needs_is_deferred_and_named_when_expanded() -> None:
    key = "${{ needs.setup.outputs.axis }}"
    wf = workflow(
        job("setup", outputs={"axis": "${{ steps.s.outputs.axis }}"}),
        matrix_job("build", {key: ["a", "b"]}, needs=["setup"]),
    )
    deferred = compile_plan(wf, PUSH).job("build")
    assert deferred.deferred_matrix == {key: ["a", "b"]}
    needs = {"setup": {"outputs": {"axis": "flavour"}, "result": "success"}}
    legs = expand_deferred(deferred, {"needs": needs}, matrix_filter={"flavour": ["b"]})
    assert [(leg.key, leg.name, leg.matrix) for leg in legs] == [
        ("build.2", "build (b)", {"flavour": "b"})
    ]
