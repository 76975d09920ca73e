"""The scheduler against FakeExecutor and hand-built plans, on a real SQLite store.

Expected behaviour follows GitHub's documentation of `needs`, `if:` status
functions, `continue-on-error`, `strategy.fail-fast` and `max-parallel`.
"""

from __future__ import annotations

import asyncio
import json

from stageline.engine.hooks import Decision, Hold
from stageline.engine.scheduler import RunSpec, Scheduler, Slots
from stageline.executors.base import JobResult
from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.engine.conftest import Recorder, job, legs, plan, run_plan

C = Conclusion


def outcomes(store: Store, run_id: int) -> dict[str, tuple[str, str | None]]:
    return {j.key: (j.status, j.conclusion) for j in store.runs.get_run(run_id).jobs}


def test_jobs_start_only_after_everything_they_need(store: Store) -> None:
    executor = FakeExecutor()
    the_plan = plan(job("d", ["b", "c"]), job("b", ["a"]), job("c", ["a"]), job("a"))
    out = run_plan(store, the_plan, executor)
    assert out.conclusion is C.SUCCESS
    order = executor.started
    assert order[0] == "a" and order[-1] == "d"
    assert executor.finished.index("b") < order.index("d")
    assert executor.finished.index("c") < order.index("d")
    detail = store.runs.get_run(out.run_id)
    assert (detail.run.status, detail.run.conclusion) == ("completed", "success")
    assert [j.key for j in detail.jobs] == ["d", "b", "c", "a"]  # plan order
    assert all(j.started_at and j.finished_at for j in detail.jobs)


def test_independent_jobs_run_concurrently_within_the_parallel_bound(store: Store) -> None:
    executor = FakeExecutor(default=Script(delay=0.05))
    out = run_plan(store, plan(*(job(f"j{i}") for i in range(6))), executor, parallel=2)
    assert out.conclusion is C.SUCCESS
    assert executor.peak == 2


def test_a_failure_skips_what_needs_it_transitively(store: Store) -> None:
    executor = FakeExecutor({"build": Script(conclusion=C.FAILURE)})
    the_plan = plan(job("build"), job("test", ["build"]), job("deploy", ["test"]), job("lint"))
    out = run_plan(store, the_plan, executor)
    assert out.conclusion is C.FAILURE
    assert outcomes(store, out.run_id) == {
        "build": ("completed", "failure"),
        "test": ("completed", "skipped"),
        "deploy": ("completed", "skipped"),
        "lint": ("completed", "success"),
    }
    assert "test" not in executor.started and "deploy" not in executor.started


def test_failure_and_always_conditions_run_after_a_failure(store: Store) -> None:
    executor = FakeExecutor({"build": Script(conclusion=C.FAILURE)})
    the_plan = plan(
        job("build"),
        job("test", ["build"]),
        job("notify", ["test"], if_="${{ failure() }}"),
        job("cleanup", ["test"], if_="always()"),
        job("celebrate", ["test"], if_="success()"),
    )
    out = run_plan(store, the_plan, executor)
    result = outcomes(store, out.run_id)
    assert result["notify"] == ("completed", "success")  # failure() sees ancestors
    assert result["cleanup"] == ("completed", "success")
    assert result["celebrate"] == ("completed", "skipped")
    assert out.conclusion is C.FAILURE


def test_a_skip_upstream_of_an_always_job_still_skips_its_default_dependents(
    store: Store,
) -> None:
    """actions/runner#2205: skipped → `always()` job runs → next job (default if) skipped."""
    the_plan = plan(
        job("skipped", if_="1 != 1"),
        job("needs-job", ["skipped"], if_="always() && needs.skipped.result != 'failure'"),
        job("next", ["needs-job"]),
    )
    out = run_plan(store, the_plan, FakeExecutor())
    assert outcomes(store, out.run_id) == {
        "skipped": ("completed", "skipped"),
        "needs-job": ("completed", "success"),
        "next": ("completed", "skipped"),
    }
    assert out.conclusion is C.SUCCESS


def test_continue_on_error_job_fails_but_counts_as_success(store: Store) -> None:
    executor = FakeExecutor({"flaky": Script(conclusion=C.FAILURE)})
    the_plan = plan(
        job("flaky", continue_on_error=True),
        job("after", ["flaky"], if_="needs.flaky.result == 'success'"),
    )
    out = run_plan(store, the_plan, executor)
    assert outcomes(store, out.run_id) == {
        "flaky": ("completed", "failure"),
        "after": ("completed", "success"),
    }
    assert out.conclusion is C.SUCCESS
    flaky = store.runs.get_run(out.run_id).jobs[0]
    assert flaky.reason and "continue-on-error" in flaky.reason


def test_needs_context_carries_results_and_outputs(store: Store) -> None:
    seen: dict[str, object] = {}

    def capture(request: object) -> dict[str, str]:
        seen.update(request.contexts["needs"])  # type: ignore[attr-defined]
        return {}

    executor = FakeExecutor(
        {"setup": Script(outputs={"version": "1.2.3"}), "use": Script(outputs=capture)}
    )
    out = run_plan(store, plan(job("setup"), job("use", ["setup"])), executor)
    assert out.conclusion is C.SUCCESS
    assert seen == {"setup": {"result": "success", "outputs": {"version": "1.2.3"}}}
    assert store.runs.get_run(out.run_id).jobs[0].outputs == {"version": "1.2.3"}


def test_matrix_outputs_are_merged_for_the_jobs_that_need_them(store: Store) -> None:
    seen: dict[str, object] = {}
    executor = FakeExecutor(
        {
            "build.1": Script(outputs={"linux": "ok", "shared": "first"}),
            "build.2": Script(outputs={"mac": "ok", "shared": ""}),
            "report": Script(outputs=lambda r: seen.update(r.contexts["needs"]) or {}),
        }
    )
    the_plan = plan(*legs("build", [{"os": "linux"}, {"os": "mac"}]), job("report", ["build"]))
    out = run_plan(store, the_plan, executor, parallel=1)
    assert out.conclusion is C.SUCCESS
    assert seen["build"] == {
        "result": "success",
        "outputs": {"linux": "ok", "shared": "first", "mac": "ok"},
    }


def test_fail_fast_cancels_the_other_legs(store: Store) -> None:
    executor = FakeExecutor({"test.1": Script(conclusion=C.FAILURE)}, default=Script(hang=True))
    the_plan = plan(*legs("test", [{"py": "3.10"}, {"py": "3.11"}, {"py": "3.12"}]))
    out = run_plan(store, the_plan, executor)
    assert out.conclusion is C.FAILURE
    result = outcomes(store, out.run_id)
    assert result["test.1"] == ("completed", "failure")
    assert result["test.2"] == result["test.3"] == ("completed", "cancelled")
    assert "fail-fast" in (store.runs.get_run(out.run_id).jobs[1].reason or "")


def test_fail_fast_false_lets_the_other_legs_finish(store: Store) -> None:
    executor = FakeExecutor({"test.1": Script(conclusion=C.FAILURE)}, default=Script(delay=0.01))
    the_plan = plan(*legs("test", [{"py": "3.10"}, {"py": "3.11"}], fail_fast=False))
    out = run_plan(store, the_plan, executor)
    assert outcomes(store, out.run_id)["test.2"] == ("completed", "success")
    assert out.conclusion is C.FAILURE


def test_max_parallel_bounds_the_legs_of_one_matrix(store: Store) -> None:
    executor = FakeExecutor(default=Script(delay=0.02))
    combos = [{"n": i} for i in range(5)]
    the_plan = plan(*legs("m", combos, max_parallel=2), job("other"))
    out = run_plan(store, the_plan, executor, parallel=10)
    assert out.conclusion is C.SUCCESS
    assert executor.peak_per_job["m"] == 2
    assert executor.peak == 3  # `other` is not bound by the matrix's max-parallel


def test_deferred_matrix_is_expanded_from_needs_outputs(store: Store) -> None:
    matrix = json.dumps({"os": ["linux", "mac", "windows"]})
    executor = FakeExecutor({"setup": Script(outputs={"matrix": matrix})})
    deferred = job("test", ["setup"], deferred_matrix="${{ fromJSON(needs.setup.outputs.matrix) }}")
    rec = Recorder()
    out = run_plan(
        store, plan(job("setup"), deferred, job("done", ["test"])), executor, observer=rec
    )
    assert out.conclusion is C.SUCCESS
    ran = sorted(k for k in executor.started if k.startswith("test"))
    assert ran == ["test.1", "test.2", "test.3"]
    assert [executor.requests[k].contexts["matrix"]["os"] for k in ran] == [
        "linux",
        "mac",
        "windows",
    ]
    assert executor.started[-1] == "done"
    keys = [j.key for j in store.runs.get_run(out.run_id).jobs]
    assert "test" not in keys and {"test.1", "test.2", "test.3"} <= set(keys)
    assert len(rec.kinds("job.queued")) == 3


def test_an_invalid_deferred_matrix_fails_that_job(store: Store) -> None:
    executor = FakeExecutor({"setup": Script(outputs={"matrix": "not json"})})
    deferred = job("test", ["setup"], deferred_matrix="${{ fromJSON(needs.setup.outputs.matrix) }}")
    out = run_plan(store, plan(job("setup"), deferred), executor)
    assert out.conclusion is C.FAILURE
    test = next(j for j in store.runs.get_run(out.run_id).jobs if j.key == "test")
    assert test.conclusion == "failure" and (test.reason or "").startswith("matrix:")


def test_an_executor_fault_fails_the_job_with_a_reason(store: Store) -> None:
    executor = FakeExecutor({"a": Script(fault=RuntimeError("disk full"))})
    out = run_plan(store, plan(job("a"), job("b", ["a"])), executor)
    assert out.conclusion is C.FAILURE
    a = store.runs.get_run(out.run_id).jobs[0]
    assert a.conclusion == "failure" and "disk full" in (a.reason or "")


def test_cancel_stops_running_jobs_and_completes_the_record(store: Store) -> None:
    executor = FakeExecutor(default=Script(hang=True))
    the_plan = plan(job("a"), job("b"), job("c", ["a"]))

    async def main() -> int:
        scheduler = Scheduler(store, executor, RunSpec(plan=the_plan, repo_dir="."), slots=Slots(4))
        task = asyncio.create_task(scheduler.run())
        while len(executor.running) < 2:
            await asyncio.sleep(0.01)
        scheduler.cancel("received SIGTERM")
        out = await task
        assert out.conclusion is C.CANCELLED
        return out.run_id

    run_id = asyncio.run(main())
    detail = store.runs.get_run(run_id)
    assert (detail.run.status, detail.run.conclusion) == ("completed", "cancelled")
    assert detail.run.reason == "received SIGTERM"
    assert {j.key: j.conclusion for j in detail.jobs} == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "cancelled",
    }
    assert all(s.status == "completed" for j in detail.jobs for s in j.steps)
    assert not executor.running


def test_a_cancel_requested_by_another_process_is_honoured(store: Store) -> None:
    from stageline.store import open_store

    executor = FakeExecutor(default=Script(hang=True))

    async def main() -> int:
        scheduler = Scheduler(
            store, executor, RunSpec(plan=plan(job("a")), repo_dir="."), slots=Slots(4)
        )
        task = asyncio.create_task(scheduler.run())
        while not executor.running:
            await asyncio.sleep(0.01)
        with open_store(store.home) as other:  # a second connection, as another process has
            assert other.runs.request_cancel(scheduler.run_id, "cancelled from the CLI")
        return (await task).run_id

    run_id = asyncio.run(main())
    detail = store.runs.get_run(run_id)
    assert detail.run.conclusion == "cancelled"
    assert detail.run.reason == "cancelled from the CLI"


class HoldingGate:
    """Holds every job with an environment until `open` is set (or refuses)."""

    def __init__(self, allow: bool = True) -> None:
        self.open = asyncio.Event()
        self.held = asyncio.Event()
        self.allow = allow

    async def admit(self, hold: Hold) -> Decision:
        assert hold.job.environment is not None
        hold.wait(f"approval for environment '{hold.job.environment.name}'")
        self.held.set()
        await self.open.wait()
        return Decision(self.allow, None if self.allow else "rejected by bob")


def test_a_gate_holds_the_job_and_the_run_as_waiting(store: Store) -> None:
    from stageline.plan.model import PlannedEnvironment

    gate = HoldingGate()
    executor = FakeExecutor()
    deploy = job("deploy", ["build"], environment=PlannedEnvironment("production"))
    rec = Recorder()

    async def main() -> int:
        scheduler = Scheduler(
            store,
            executor,
            RunSpec(plan=plan(job("build"), deploy), repo_dir="."),
            slots=Slots(4),
            gatekeeper=gate,
            observer=rec,
        )
        task = asyncio.create_task(scheduler.run())
        await gate.held.wait()
        await asyncio.sleep(0)  # let the recorder flush
        detail = store.runs.get_run(scheduler.run_id)
        assert detail.run.status == "waiting"
        assert detail.run.waiting_for == "deploy: approval for environment 'production'"
        waiting = {j.key: (j.status, j.waiting_for) for j in detail.jobs}
        assert waiting["deploy"] == ("waiting", "approval for environment 'production'")
        assert "deploy" not in executor.started
        gate.open.set()
        return (await task).run_id

    run_id = asyncio.run(main())
    assert outcomes(store, run_id)["deploy"] == ("completed", "success")
    assert store.runs.get_run(run_id).run.waiting_for is None
    assert [e.kind for e in rec.events].count("job.waiting") == 1
    assert "run.waiting" in {e.kind for e in store.runs.run_events(run_id)}


def test_a_refusing_gate_fails_the_job_without_running_it(store: Store) -> None:
    from stageline.plan.model import PlannedEnvironment

    gate = HoldingGate(allow=False)
    gate.open.set()
    executor = FakeExecutor()
    deploy = job("deploy", environment=PlannedEnvironment("production"))
    out = run_plan(store, plan(deploy), executor, gatekeeper=gate)
    assert out.conclusion is C.FAILURE
    assert executor.started == []
    assert store.runs.get_run(out.run_id).jobs[0].reason == "rejected by bob"


def test_after_job_hook_can_turn_success_into_failure(store: Store) -> None:
    class FailingWindow:
        async def after_job(self, hold: Hold, result: JobResult) -> JobResult:
            hold.wait("monitoring window (30s)")
            return JobResult(C.FAILURE, reason="health check failed")

    the_plan = plan(job("staging"), job("production", ["staging"]))
    out = run_plan(store, the_plan, FakeExecutor(), after_job=FailingWindow())
    assert outcomes(store, out.run_id) == {
        "staging": ("completed", "failure"),
        "production": ("completed", "skipped"),
    }
    assert store.runs.get_run(out.run_id).jobs[0].reason == "health check failed"


def test_steps_logs_annotations_and_artifacts_are_recorded(store: Store, tmp_path) -> None:
    from stageline.executors.base import Annotation

    rec = Recorder()
    executor = FakeExecutor(
        default=Script(
            lines=["hello", "world"],
            annotations=[Annotation("error", "boom", file="a.py", line=3, step_index=0)],
            events=[("artifact.uploaded", {"name": "dist", "path": "/x", "size": 5})],
        )
    )
    out = run_plan(store, plan(job("a")), executor, observer=rec)
    detail = store.runs.get_run(out.run_id)
    assert [(s.name, s.conclusion) for s in detail.jobs[0].steps] == [("Run true", "success")]
    assert [(a.level, a.message, a.file, a.line) for a in detail.annotations] == [
        ("error", "boom", "a.py", 3)
    ]
    assert [(a.name, a.size) for a in detail.artifacts] == [("dist", 5)]
    assert [e.line for e in rec.kinds("log.line")] == ["hello", "world"]
    kinds = [e.kind for e in store.runs.run_events(out.run_id)]
    assert kinds[0] == "run.queued" and kinds[-1] == "run.finished"
    assert {"job.started", "job.finished", "artifact.uploaded"} <= set(kinds)


def test_a_full_disk_cancels_the_run_instead_of_running_unrecorded(store: Store) -> None:
    import pytest

    from stageline.errors import StoreError
    from stageline.executors.base import Annotation

    release = asyncio.Event()
    noisy = Script(annotations=[Annotation("warning", "x" * 2000) for _ in range(200)])
    executor = FakeExecutor({"b": noisy, "c": Script(release=release)}, default=Script(hang=True))
    the_plan = plan(job("a"), job("c"), job("b", ["c"]))

    async def main() -> None:
        scheduler = Scheduler(store, executor, RunSpec(plan=the_plan, repo_dir="."), slots=Slots(4))
        task = asyncio.create_task(scheduler.run())
        while len(executor.running) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        pages = store.conn.exec_driver_sql("PRAGMA page_count").scalar()
        store.conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")  # the disk is full
        store.conn.commit()
        release.set()  # c ends, b starts and reports more than the disk holds
        with pytest.raises(StoreError, match="full"):
            await task
        assert scheduler.state.cancelled is not None
        assert scheduler.state.cancelled.startswith("the record cannot be written")
        assert not executor.running  # everything was stopped

    asyncio.run(main())


def test_a_plan_that_can_never_progress_fails_clearly_instead_of_hanging(store: Store) -> None:
    the_plan = plan(job("a", ["ghost"]), job("b", ["c"]), job("c", ["b"]), job("d"))
    out = run_plan(store, the_plan, FakeExecutor())
    reasons = {j.key: (j.conclusion, j.reason) for j in store.runs.get_run(out.run_id).jobs}
    assert reasons == {
        "a": ("failure", "needs unknown job(s): ghost"),
        "b": ("failure", "its needs form a cycle"),
        "c": ("failure", "its needs form a cycle"),
        "d": ("success", None),
    }
    assert out.conclusion is C.FAILURE


def test_a_hook_that_raises_fails_its_job_and_the_run_still_ends(store: Store) -> None:
    from stageline.plan.model import PlannedEnvironment

    class BrokenGate:
        async def admit(self, hold: Hold) -> Decision:
            raise RuntimeError("config unreadable")

    class BrokenWindow:
        async def after_job(self, hold: Hold, result: JobResult) -> JobResult:
            raise RuntimeError("monitor crashed")

    gated = job("deploy", environment=PlannedEnvironment("production"))
    out = run_plan(
        store,
        plan(gated, job("build")),
        FakeExecutor(),
        gatekeeper=BrokenGate(),
        after_job=BrokenWindow(),
    )
    reasons = {j.key: (j.conclusion, j.reason) for j in store.runs.get_run(out.run_id).jobs}
    assert reasons["deploy"][0] == "failure" and "config unreadable" in reasons["deploy"][1]
    assert reasons["build"][0] == "failure" and "monitor crashed" in reasons["build"][1]
    assert out.conclusion is C.FAILURE


class TwoReasonGate(HoldingGate):
    """Holds with one reason, then (on `again`) with another, as a bake window that
    turns into a rollback does."""

    def __init__(self) -> None:
        super().__init__()
        self.again = asyncio.Event()
        self.held_again = asyncio.Event()

    async def admit(self, hold: Hold) -> Decision:
        hold.wait("first reason")
        self.held.set()
        await self.again.wait()
        hold.wait("second reason")
        self.held_again.set()
        await self.open.wait()
        return Decision(True)


def test_a_new_reason_for_the_same_hold_reaches_the_run(store: Store) -> None:
    from stageline.plan.model import PlannedEnvironment

    gate = TwoReasonGate()
    deploy = job("deploy", environment=PlannedEnvironment("staging"))

    async def main() -> list[str | None]:
        scheduler = Scheduler(
            store,
            FakeExecutor(),
            RunSpec(plan=plan(deploy), repo_dir="."),
            slots=Slots(4),
            gatekeeper=gate,
        )
        task = asyncio.create_task(scheduler.run())
        seen = []
        await gate.held.wait()
        await asyncio.sleep(0)
        seen.append(store.runs.get_run(scheduler.run_id).run.waiting_for)
        gate.again.set()
        await gate.held_again.wait()
        await asyncio.sleep(0)
        seen.append(store.runs.get_run(scheduler.run_id).run.waiting_for)
        gate.open.set()
        await task
        return seen

    assert asyncio.run(main()) == ["deploy: first reason", "deploy: second reason"]
