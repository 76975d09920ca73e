"""Reusable-workflow calls run: real workflow files in a real git repository, compiled by
`engine.setup.prepare` and run by the scheduler on `FakeExecutor` and a real store.

What is checked is what GitHub documents for `jobs.<id>.uses`: typed and defaulted
`with:` inputs, `secrets:` (a mapping or `inherit`), the callee's `env`, outputs
through `on.workflow_call.outputs`, `needs` and `if:` on both sides, names
``caller / job``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stageline.engine.resume import resume_run
from stageline.engine.scheduler import RunOutcome, RunSpec, Scheduler, Slots
from stageline.engine.setup import RunOptions, prepare
from stageline.executors.base import JobRequest
from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.engine.test_resume import interrupt, record
from tests.engine.test_setup import repo

C = Conclusion

DEPLOY = """\
on:
  workflow_call:
    inputs:
      target: {type: string, required: true}
      replicas: {type: number, default: 2}
      dry: {type: boolean, default: false}
    secrets:
      token: {required: false}
    outputs:
      url:
        description: where it went
        value: ${{ jobs.ship.outputs.url }}
      built: {value: "${{ jobs.build.outputs.a }}-${{ inputs.target }}"}
env:
  WHERE: ${{ inputs.target }}-${{ vars.REGION }}
jobs:
  build:
    runs-on: ubuntu-latest
    outputs: {artifact: "${{ steps.b.outputs.a }}"}
    steps: [{id: b, run: echo build}]
  ship:
    needs: build
    if: ${{ !inputs.dry }}
    environment: ${{ inputs.target }}
    runs-on: ubuntu-latest
    outputs: {url: "${{ steps.s.outputs.url }}"}
    steps: [{id: s, run: echo ship}]
"""

CI = """\
name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps: [{run: echo test}]
  staging:
    needs: test
    uses: ./.github/workflows/deploy.yml
    with: {target: staging, replicas: "3"}
    secrets: {token: "${{ secrets.TOKEN }}-x"}
  production:
    needs: staging
    if: ${{ needs.staging.outputs.url != '' }}
    uses: ./.github/workflows/deploy.yml
    with:
      target: production
      dry: ${{ github.ref != 'refs/heads/main' }}
    secrets: inherit
  report:
    needs: [staging, production]
    if: always()
    runs-on: ubuntu-latest
    steps: [{run: echo report}]
"""


def prepared(tmp_path: Path, ci: str = CI, deploy: str = DEPLOY, **options: Any) -> RunSpec:
    root = repo(
        tmp_path / "repo",
        {".github/workflows/ci.yml": ci, ".github/workflows/deploy.yml": deploy},
    )
    secrets = {"TOKEN": "t0k", "OTHER": "o"}
    return prepare(RunOptions(cwd=root, workflow="ci.yml", secrets=secrets, **options)).specs[0]


def run(
    tmp_path: Path,
    store: Store,
    executor: FakeExecutor,
    ci: str = CI,
    deploy: str = DEPLOY,
    **options: Any,
) -> RunOutcome:
    spec = prepared(tmp_path, ci, deploy, **options)
    return asyncio.run(Scheduler(store, executor, spec, slots=Slots(4)).run())


def outputs_of(request: JobRequest) -> dict[str, str]:
    """A fake job's outputs: what its job sees, echoed."""
    ctx = request.contexts
    if "replicas" not in ctx["inputs"]:
        return {}
    return {
        "a": f"app-{ctx['inputs']['target']}-{ctx['inputs']['replicas']}",
        "url": f"https://{ctx['inputs']['target']}.example",
    }


def outcomes(store: Store, run_id: int) -> dict[str, tuple[str | None, str | None]]:
    return {j.key: (j.conclusion, j.reason) for j in store.runs.get_run(run_id).jobs}


def test_called_jobs_run_with_typed_inputs_secrets_env_and_give_outputs(
    tmp_path: Path, store: Store
) -> None:
    executor = FakeExecutor(
        default=Script(outputs=outputs_of),
        scripts={"test": Script(), "report": Script()},
    )
    out = run(tmp_path, store, executor, vars={"REGION": "eu"})
    assert out.conclusion is C.SUCCESS
    detail = store.runs.get_run(out.run_id)
    assert [(j.key, j.name, j.job_id) for j in detail.jobs] == [
        ("test", "test", "test"),
        ("staging / build", "staging / build", "staging / build"),
        ("staging / ship", "staging / ship", "staging / ship"),
        ("production / build", "production / build", "production / build"),
        ("production / ship", "production / ship", "production / ship"),
        ("report", "report", "report"),
    ]
    environments = {j.key: j.environment for j in detail.jobs if j.environment}
    assert environments == {"staging / ship": "staging", "production / ship": "production"}
    assert executor.requests["staging / ship"].job.environment.name == "staging"  # type: ignore[union-attr]
    order = executor.started
    assert order.index("test") < order.index("staging / build") < order.index("staging / ship")
    assert order.index("staging / ship") < order.index("production / build")
    assert order[-1] == "report"

    build = executor.requests["staging / build"]
    assert build.contexts["github"]["job"] == "build"  # GITHUB_JOB: its id in the callee
    assert build.contexts["inputs"] == {"target": "staging", "replicas": 3, "dry": False}
    assert build.contexts["env"] == {"WHERE": "staging-eu"}
    assert build.contexts["needs"] == {}  # a root of the callee needs nothing in it
    assert build.secrets == {"token": "t0k-x"}  # only what the mapping passes
    ship = executor.requests["staging / ship"]
    assert ship.contexts["needs"] == {
        "build": {
            "result": "success",
            "outputs": {"a": "app-staging-3", "url": "https://staging.example"},
        }
    }
    prod = executor.requests["production / build"]
    assert prod.contexts["inputs"] == {"target": "production", "replicas": 2, "dry": False}
    assert prod.secrets == {"TOKEN": "t0k", "OTHER": "o"}  # inherit
    report = executor.requests["report"].contexts["needs"]
    assert report["staging"] == {
        "result": "success",
        "outputs": {"url": "https://staging.example", "built": "app-staging-3-staging"},
    }
    assert report["production"]["outputs"]["url"] == "https://production.example"


def test_a_false_if_on_either_side_skips_and_dependents_see_it(
    tmp_path: Path, store: Store
) -> None:
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path, store, executor, ref="refs/heads/feature")
    assert out.conclusion is C.SUCCESS
    result = outcomes(store, out.run_id)
    # production is called with dry: true, so its `ship` (if: !inputs.dry) is skipped
    assert result["production / build"] == ("success", None)
    assert result["production / ship"] == ("skipped", None)
    report = executor.requests["report"].contexts["needs"]["production"]
    assert report == {
        "result": "success",
        "outputs": {"url": "", "built": "app-production-2-production"},
    }

    executor = FakeExecutor(
        default=Script(outputs=outputs_of), scripts={"staging / ship": Script()}
    )
    out = run(tmp_path / "2", store, executor)
    result = outcomes(store, out.run_id)
    # staging gave no url: the caller's `if:` is false, none of production's jobs runs
    assert result["production / build"] == ("skipped", None)
    assert result["production / ship"] == ("skipped", None)
    assert "production / build" not in executor.started
    assert result["report"] == ("success", None)
    assert executor.requests["report"].contexts["needs"]["production"]["result"] == "skipped"


def test_a_failing_called_job_fails_the_caller_for_its_dependents(
    tmp_path: Path, store: Store
) -> None:
    executor = FakeExecutor(
        default=Script(outputs=outputs_of),
        scripts={"staging / ship": Script(conclusion=C.FAILURE)},
    )
    out = run(tmp_path, store, executor)
    assert out.conclusion is C.FAILURE
    result = outcomes(store, out.run_id)
    assert result["production / build"] == ("skipped", None)
    assert result["report"] == ("success", None)
    needs = executor.requests["report"].contexts["needs"]
    assert needs["staging"]["result"] == "failure"
    assert needs["production"]["result"] == "skipped"


def test_a_with_value_its_type_refuses_fails_the_call_where_it_starts(
    tmp_path: Path, store: Store
) -> None:
    ci = CI.replace('replicas: "3"', "replicas: \"${{ 'many' }}\"")
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path, store, executor, ci=ci)
    assert out.conclusion is C.FAILURE
    result = outcomes(store, out.run_id)
    assert result["staging / build"] == (
        "failure",
        "calling ./.github/workflows/deploy.yml: "
        "./.github/workflows/deploy.yml: input 'replicas' is a number, got 'many'",
    )
    assert result["staging / ship"] == ("skipped", None)
    assert "staging / build" not in executor.started


def test_a_with_expression_missing_a_required_input_fails_at_run_time(
    tmp_path: Path, store: Store
) -> None:
    ci = CI.replace('with: {target: staging, replicas: "3"}', "with: ${{ fromJSON('{}') }}")
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path, store, executor, ci=ci)
    reason = outcomes(store, out.run_id)["staging / build"][1] or ""
    assert reason.endswith("required input 'target' is not given")


def test_a_resumed_run_keeps_finished_called_jobs_and_ends_as_if_never_stopped(
    tmp_path: Path, store: Store
) -> None:
    spec = prepared(tmp_path)
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    whole = asyncio.run(Scheduler(store, executor, spec, slots=Slots(4)).run())
    again = asyncio.run(Scheduler(store, executor, spec, slots=Slots(4)).run())
    interrupt(
        store,
        again.run_id,
        {"staging / ship", "production / build", "production / ship", "report"},
    )

    later = FakeExecutor(default=Script(outputs=outputs_of))
    execution = asyncio.run(resume_run(store, later, spec, again.run_id, parallel=4))
    assert [o.conclusion for o in execution.outcomes] == [C.SUCCESS]
    assert later.started[0] == "staging / ship"  # `staging / build` was kept
    assert "staging / build" not in later.started
    ship = later.requests["staging / ship"]
    assert ship.contexts["inputs"]["replicas"] == 3 and ship.secrets == {"token": "t0k-x"}
    assert ship.contexts["needs"]["build"]["outputs"]["a"] == "app-staging-3"
    assert record(store, again.run_id) == record(store, whole.run_id)


MATRIX_CI = """\
name: CI
on: push
jobs:
  deploy:
    strategy:
      matrix:
        target: [qa, staging]
        replicas: [1]
    uses: ./.github/workflows/deploy.yml
    with:
      target: ${{ matrix.target }}
      replicas: ${{ matrix.replicas }}
  report:
    needs: deploy
    runs-on: ubuntu-latest
    steps: [{run: echo report}]
"""


def test_a_matrix_on_the_calling_job_calls_once_per_leg(tmp_path: Path, store: Store) -> None:
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path, store, executor, ci=MATRIX_CI)
    assert out.conclusion is C.SUCCESS
    detail = store.runs.get_run(out.run_id)
    assert [(j.key, j.name) for j in detail.jobs] == [
        ("deploy.1 / build", "deploy (qa, 1) / build"),
        ("deploy.1 / ship", "deploy (qa, 1) / ship"),
        ("deploy.2 / build", "deploy (staging, 1) / build"),
        ("deploy.2 / ship", "deploy (staging, 1) / ship"),
        ("report", "report"),
    ]
    assert executor.requests["deploy.1 / ship"].contexts["inputs"]["target"] == "qa"
    assert executor.requests["deploy.2 / ship"].contexts["inputs"]["target"] == "staging"
    assert executor.requests["deploy.2 / ship"].contexts["needs"]["build"]["outputs"]["a"] == (
        "app-staging-1"
    )
    assert executor.started[-1] == "report"
    needs = executor.requests["report"].contexts["needs"]["deploy"]
    assert needs["result"] == "success"
    assert needs["outputs"]["url"] in ("https://qa.example", "https://staging.example")

    narrowed = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path / "2", store, narrowed, ci=MATRIX_CI, matrix={"target": ["staging"]})
    keys = [j.key for j in store.runs.get_run(out.run_id).jobs]
    assert keys == ["deploy.2 / build", "deploy.2 / ship", "report"]


NESTED_CI = """\
name: CI
on: push
jobs:
  release:
    concurrency: {group: "release-${{ github.ref_name }}"}
    uses: ./.github/workflows/release.yml
    with: {target: prod}
    secrets: {token: top}
  after:
    needs: release
    runs-on: ubuntu-latest
    steps: [{run: echo}]
"""

RELEASE = """\
on:
  workflow_call:
    inputs: {target: {type: string}}
    secrets: {token: {}}
    outputs: {url: {value: "${{ jobs.deploy.outputs.url }}"}}
jobs:
  check:
    runs-on: ubuntu-latest
    steps: [{run: echo}]
  lint:
    runs-on: ubuntu-latest
    steps: [{run: echo}]
  deploy:
    needs: [check, lint]
    uses: ./.github/workflows/deploy.yml
    with: {target: "${{ inputs.target }}-eu", replicas: 5}
    secrets: inherit
"""


def test_nested_calls_run_inside_their_callers_scope_and_group(
    tmp_path: Path, store: Store
) -> None:
    root = tmp_path / "repo" / ".github" / "workflows"
    root.mkdir(parents=True)
    (root / "release.yml").write_text(RELEASE)
    executor = FakeExecutor(default=Script(outputs=outputs_of))
    out = run(tmp_path, store, executor, ci=NESTED_CI)
    assert out.conclusion is C.SUCCESS
    detail = store.runs.get_run(out.run_id)
    assert [(j.key, j.needs) for j in detail.jobs] == [
        ("release / check", []),
        ("release / lint", []),
        ("release / deploy / build", ["release / check", "release / lint"]),
        ("release / deploy / ship", ["release / deploy / build"]),
        ("after", ["release"]),
    ]
    ship = executor.requests["release / deploy / ship"]
    assert ship.contexts["inputs"] == {"target": "prod-eu", "replicas": 5, "dry": False}
    assert ship.secrets == {"token": "top"}  # inherited from the middle call
    assert executor.requests["release / deploy / build"].contexts["needs"] == {}
    after = executor.requests["after"].contexts["needs"]["release"]
    assert after == {"result": "success", "outputs": {"url": "https://prod-eu.example"}}
    # every called job joined the caller's group, and none waited for another of its run
    groups = {j.key: j.concurrency_group for j in detail.jobs}
    assert groups == {
        "release / check": "release-main",
        "release / lint": "release-main",
        "release / deploy / build": "release-main",
        "release / deploy / ship": "release-main",
        "after": None,
    }
    assert all(j.conclusion == "success" for j in detail.jobs)


def test_a_failed_leg_of_a_matrix_of_calls_stops_the_others_unless_fail_fast_is_off(
    tmp_path: Path, store: Store
) -> None:
    scripts = {
        "deploy.1 / build": Script(conclusion=C.FAILURE),
        "deploy.2 / build": Script(hang=True, outputs=outputs_of),
    }
    out = run(tmp_path, store, FakeExecutor(scripts, Script(outputs=outputs_of)), ci=MATRIX_CI)
    assert out.conclusion is C.FAILURE
    result = outcomes(store, out.run_id)
    reason = "fail-fast: deploy (qa, 1) / build failed"
    assert result["deploy.2 / build"] == ("cancelled", reason)
    assert result["deploy.2 / ship"] == ("cancelled", reason)
    assert result["deploy.1 / ship"] == ("skipped", None)

    relaxed = MATRIX_CI.replace("    strategy:\n", "    strategy:\n      fail-fast: false\n")
    scripts["deploy.2 / build"] = Script(delay=0.2, outputs=outputs_of)
    executor = FakeExecutor(scripts, Script(outputs=outputs_of))
    out = run(tmp_path / "2", store, executor, ci=relaxed)
    result = outcomes(store, out.run_id)
    assert result["deploy.2 / ship"] == ("success", None)
    assert result["report"] == ("skipped", None)


def test_max_parallel_on_the_calling_job_bounds_the_legs_executing_at_once(
    tmp_path: Path, store: Store
) -> None:
    bounded = MATRIX_CI.replace("    strategy:\n", "    strategy:\n      max-parallel: 1\n")
    slow = Script(delay=0.1, outputs=outputs_of)
    executor = FakeExecutor({"report": Script()}, slow)
    assert run(tmp_path, store, executor, ci=bounded).conclusion is C.SUCCESS
    assert executor.peak == 1
    free = FakeExecutor({"report": Script()}, slow)
    assert run(tmp_path / "2", store, free, ci=MATRIX_CI).conclusion is C.SUCCESS
    assert free.peak == 2


def test_the_callers_group_serialises_the_calls_of_two_runs(tmp_path: Path, store: Store) -> None:
    ci = (
        MATRIX_CI.replace(
            "    strategy:\n      matrix:\n        target: [qa, staging]\n        replicas: [1]\n",
            "    concurrency: prod\n",
        )
        .replace("${{ matrix.target }}", "qa")
        .replace("${{ matrix.replicas }}", "1")
    )
    spec = prepared(tmp_path, ci)
    release = asyncio.Event()
    executor = FakeExecutor({"deploy / build": Script(release=release, outputs=outputs_of)})
    executor.default = Script(outputs=outputs_of)

    async def main() -> tuple[RunOutcome, RunOutcome]:
        first = Scheduler(store, executor, spec, slots=Slots(8))
        second = Scheduler(store, executor, spec, slots=Slots(8))
        one = asyncio.create_task(first.run())
        while "deploy / build" not in executor.running:
            await asyncio.sleep(0.01)
        executor.scripts["deploy / build"] = Script(outputs=outputs_of)
        two = asyncio.create_task(second.run())

        def pending() -> bool:
            jobs = store.runs.get_run(second.run_id).jobs if second.run_id else []
            return any(j.key == "deploy / build" and j.status == "pending" for j in jobs)

        while not pending():
            await asyncio.sleep(0.01)
        assert executor.started.count("deploy / build") == 1
        release.set()
        return await one, await two

    one, two = asyncio.run(main())
    assert one.conclusion is two.conclusion is C.SUCCESS
    assert executor.started.count("deploy / ship") == 2
