"""A resumed run ends as the same run never interrupted: the two reproductions of
issue 7 and a property test over random job graphs, on the fake executor and a real
SQLite store. An interruption is what a killed process leaves: jobs back to
`queued`, the run `waiting` with a pid that is gone."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageline.engine.resume import resumable, resume_run
from stageline.engine.scheduler import RunSpec
from stageline.errors import RunError, StoreError
from stageline.executors.base import Annotation
from stageline.executors.fake import FakeExecutor, Script
from stageline.plan.model import Plan, PlannedJob
from stageline.runs.states import Conclusion
from stageline.store import Store, open_store
from tests.engine.conftest import job, plan, run_plan

C = Conclusion


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def interrupt(store: Store, run_id: int, keys: set[str]) -> None:
    """What a killed process leaves: `keys` back to queued, the run waiting."""
    with store.write() as cur:
        cur.executemany(
            "UPDATE jobs SET status = 'queued', conclusion = NULL, outputs = '{}', "
            "reason = NULL, started_at = NULL, finished_at = NULL, waiting_for = NULL "
            "WHERE run_id = ? AND key = ?",
            [(run_id, key) for key in sorted(keys)],
        )
        cur.execute(
            "UPDATE runs SET status = 'waiting', conclusion = NULL, reason = NULL, "
            "finished_at = NULL, pid = ? WHERE id = ?",
            (dead_pid(), run_id),
        )


def resume(store: Store, the_plan: Plan, executor: FakeExecutor, run_id: int) -> Conclusion:
    resumable(store, run_id)
    spec = RunSpec(plan=the_plan, repo_dir=str(store.home))
    execution = asyncio.run(resume_run(store, executor, spec, run_id, parallel=4))
    [outcome] = execution.outcomes
    return outcome.conclusion


def record(store: Store, run_id: int) -> dict[str, Any]:
    detail = store.runs.get_run(run_id)
    return {
        "run": (detail.run.status, detail.run.conclusion, detail.run.reason),
        "jobs": {j.key: (j.status, j.conclusion, j.outputs, j.reason) for j in detail.jobs},
    }


def finished_order(store: Store, run_id: int) -> list[str]:
    return [
        e.job_key
        for e in store.runs.run_events(run_id)
        if e.kind == "job.finished" and e.job_key is not None
    ]


def test_a_continue_on_error_expression_counts_after_a_resume(store: Store) -> None:
    the_plan = plan(job("a", continue_on_error="${{ true }}"), job("b", ["a"]))
    executor = FakeExecutor({"a": Script(conclusion=C.FAILURE)})
    first = run_plan(store, the_plan, executor)
    assert first.conclusion is C.SUCCESS
    second = run_plan(store, the_plan, executor)
    interrupt(store, second.run_id, {"b"})

    assert resume(store, the_plan, executor, second.run_id) is C.SUCCESS
    assert record(store, second.run_id) == record(store, first.run_id)
    assert record(store, second.run_id)["jobs"]["b"][:2] == ("completed", "success")


def test_a_skip_before_an_always_job_still_skips_its_dependents_after_a_resume(
    store: Store,
) -> None:
    the_plan = plan(job("a", if_="false"), job("b", ["a"], if_="always()"), job("c", ["b"]))
    executor = FakeExecutor()
    first = run_plan(store, the_plan, executor)
    second = run_plan(store, the_plan, executor)
    interrupt(store, second.run_id, {"c"})

    resume(store, the_plan, executor, second.run_id)
    assert record(store, second.run_id) == record(store, first.run_id)
    assert record(store, second.run_id)["jobs"]["c"][:2] == ("completed", "skipped")


def test_a_record_that_cannot_be_written_cancels_a_resumed_run(store: Store) -> None:
    """Resume writes through the scheduler's flush rule, not around it."""
    the_plan = plan(job("a"), job("c"), job("d"), job("b", ["c"]))
    done = run_plan(store, the_plan, FakeExecutor())
    interrupt(store, done.run_id, {"b", "c", "d"})
    spec = RunSpec(plan=the_plan, repo_dir=str(store.home))
    release = asyncio.Event()
    noisy = Script(annotations=[Annotation("warning", "x" * 2000) for _ in range(200)])
    executor = FakeExecutor({"b": noisy, "c": Script(release=release)}, default=Script(hang=True))

    async def main() -> None:
        task = asyncio.create_task(resume_run(store, executor, spec, done.run_id, parallel=4))
        while len(executor.running) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        pages = store.conn.exec_driver_sql("PRAGMA page_count").scalar()
        store.conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")  # the disk is full
        store.conn.commit()
        release.set()  # c ends, b starts and reports more than the disk holds
        with pytest.raises(StoreError, match="full"):
            await task
        assert not executor.running  # d was cancelled, not left running
        assert "a" not in executor.started  # kept from the record

    asyncio.run(main())


def test_a_finished_run_cannot_be_resumed(store: Store) -> None:
    done = run_plan(store, plan(job("a")), FakeExecutor())
    with pytest.raises(RunError, match="nothing to resume"):
        resumable(store, done.run_id)


# -- the property: any interruption, resumed, ends as the uninterrupted run -------------

IFS = [None, "success()", "failure()", "always()", "cancelled()", "false"]
CONTINUE = [False, True, "${{ true }}"]


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[PlannedJob], dict[str, Script], int]:
    count = draw(st.integers(1, 6))
    jobs: list[PlannedJob] = []
    scripts: dict[str, Script] = {}
    for i in range(count):
        name = f"j{i}"
        earlier = [f"j{n}" for n in range(i)]
        needs = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        jobs.append(
            job(
                name,
                needs,
                if_=draw(st.sampled_from(IFS)),
                continue_on_error=draw(st.sampled_from(CONTINUE)),
            )
        )
        conclusion = draw(st.sampled_from([C.SUCCESS, C.FAILURE]))
        scripts[name] = Script(conclusion=conclusion, outputs={"out": f"v{i}"})
    cut = draw(st.integers(0, count))
    return jobs, scripts, cut


def test_a_resumed_run_ends_as_the_uninterrupted_one(tmp_path: Path) -> None:
    with open_store(tmp_path / "home") as store:

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(dags())
        def check(case: tuple[list[PlannedJob], dict[str, Script], int]) -> None:
            jobs, scripts, cut = case
            the_plan = plan(*jobs)
            first = run_plan(store, the_plan, FakeExecutor(scripts))
            second = run_plan(store, the_plan, FakeExecutor(scripts))
            assert record(store, second.run_id) == record(store, first.run_id)
            interrupt(store, second.run_id, set(finished_order(store, second.run_id)[cut:]))

            resume(store, the_plan, FakeExecutor(scripts), second.run_id)
            assert record(store, second.run_id) == record(store, first.run_id)

        check()


def test_a_resume_is_the_runs_next_attempt(store: Store) -> None:
    """The same executor is told the resumed job again under a new attempt (it refuses a
    job it has accepted before), and `github.run_attempt` says so."""
    the_plan = plan(job("a"), job("b", ["a"]))
    executor = FakeExecutor()
    done = run_plan(store, the_plan, executor)
    interrupt(store, done.run_id, {"b"})

    assert resume(store, the_plan, executor, done.run_id) is C.SUCCESS
    request = executor.requests["b"]
    assert request.attempt == 2
    assert request.contexts["github"]["run_attempt"] == "2"
    assert store.runs.get_run(done.run_id).run.attempt == 2
