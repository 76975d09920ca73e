"""`concurrency` groups, decided through the store (so across processes too).

GitHub: at most one running and one pending run (or job) per group; a new one
cancels the pending one; `cancel-in-progress: true` cancels the running one.
"""

from __future__ import annotations

import asyncio

from stageline.engine.concurrency import enabled, group_name
from stageline.engine.scheduler import RunOutcome, RunSpec, Scheduler, Slots
from stageline.executors.fake import FakeExecutor, Script
from stageline.plan.model import Plan
from stageline.runs.states import Conclusion
from stageline.store import Store
from tests.engine.conftest import job, plan

C = Conclusion


def scheduler(store: Store, executor: FakeExecutor, the_plan: Plan) -> Scheduler:
    return Scheduler(store, executor, RunSpec(plan=the_plan, repo_dir="."), slots=Slots(8))


async def until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.01)


def test_a_second_run_of_the_group_waits_for_the_first(store: Store) -> None:
    release = asyncio.Event()
    executor = FakeExecutor({"first": Script(release=release)})
    group = "deploy-${{ github.ref }}"

    async def main() -> tuple[RunOutcome, RunOutcome]:
        first = scheduler(store, executor, plan(job("first"), concurrency_group=group))
        second = scheduler(store, executor, plan(job("second"), concurrency_group=group))
        one = asyncio.create_task(first.run())
        await until(lambda: executor.running)
        two = asyncio.create_task(second.run())
        await until(
            lambda: second.run_id and store.runs.get_run(second.run_id).run.status == "pending"
        )
        detail = store.runs.get_run(second.run_id).run
        assert detail.waiting_for == f"concurrency group 'deploy-refs/heads/main' (#{first.number})"
        assert executor.started == ["first"]
        release.set()
        return await one, await two

    one, two = asyncio.run(main())
    assert one.conclusion is two.conclusion is C.SUCCESS
    assert executor.started == ["first", "second"]
    assert executor.finished.index("first") < executor.started.index("second")


def test_cancel_in_progress_cancels_the_running_run(store: Store) -> None:
    executor = FakeExecutor({"first": Script(hang=True)})

    async def main() -> tuple[RunOutcome, RunOutcome]:
        first = scheduler(store, executor, plan(job("first"), concurrency_group="g"))
        newer = plan(job("second"), concurrency_group="g", concurrency_cancel_in_progress=True)
        second = scheduler(store, executor, newer)
        one = asyncio.create_task(first.run())
        await until(lambda: executor.running)
        two = asyncio.create_task(second.run())
        return await one, await two

    one, two = asyncio.run(main())
    assert one.conclusion is C.CANCELLED
    assert two.conclusion is C.SUCCESS
    reason = store.runs.get_run(one.run_id).run.reason or ""
    assert reason.startswith(f"cancelled by run #{two.number}")


def test_a_newer_run_replaces_the_pending_one(store: Store) -> None:
    release = asyncio.Event()
    executor = FakeExecutor({"first": Script(release=release)})

    async def main() -> list[RunOutcome]:
        runs = [scheduler(store, executor, plan(job(n), concurrency_group="g")) for n in "abc"]
        executor.scripts["a"] = Script(release=release)
        tasks = [asyncio.create_task(runs[0].run())]
        await until(lambda: executor.running)
        tasks.append(asyncio.create_task(runs[1].run()))
        await until(
            lambda: runs[1].run_id and store.runs.get_run(runs[1].run_id).run.status == "pending"
        )
        tasks.append(asyncio.create_task(runs[2].run()))
        await until(lambda: tasks[1].done())
        release.set()
        return [await t for t in tasks]

    a, b, c = asyncio.run(main())
    assert (a.conclusion, b.conclusion, c.conclusion) == (C.SUCCESS, C.CANCELLED, C.SUCCESS)
    assert (
        store.runs.get_run(b.run_id).run.reason == "superseded by run #3 in concurrency group 'g'"
    )
    assert executor.started == ["a", "c"]


def test_job_level_groups_serialise_jobs_across_runs(store: Store) -> None:
    release = asyncio.Event()
    executor = FakeExecutor({"deploy": Script(release=release)})

    def deploying(name: str) -> Plan:
        return plan(job("deploy", name=name, concurrency_group="prod"), job("lint"))

    async def main() -> tuple[RunOutcome, RunOutcome]:
        first = scheduler(store, executor, deploying("first"))
        second = scheduler(store, executor, deploying("second"))
        one = asyncio.create_task(first.run())
        await until(lambda: "deploy" in executor.running)
        executor.scripts["deploy"] = Script()
        two = asyncio.create_task(second.run())

        def second_pending() -> bool:
            jobs = store.runs.get_run(second.run_id).jobs if second.run_id else []
            return any(j.key == "deploy" and j.status == "pending" for j in jobs)

        await until(second_pending)
        assert executor.started.count("lint") == 2  # other jobs are not held
        assert executor.started.count("deploy") == 1
        release.set()
        return await one, await two

    one, two = asyncio.run(main())
    assert one.conclusion is two.conclusion is C.SUCCESS
    assert executor.started.count("deploy") == 2


def test_a_group_name_is_evaluated_and_unevaluable_text_names_itself() -> None:
    scope = {"github": {"ref": "refs/heads/main"}}
    assert group_name("deploy-${{ github.ref }}", scope) == "deploy-refs/heads/main"
    assert group_name("${{ nope( }}", scope) == "${{ nope( }}"
    assert group_name("${{ '' }}", scope) is None
    assert group_name(None, scope) is None


def test_cancel_in_progress_that_cannot_be_evaluated_is_false() -> None:
    assert enabled("${{ github.ref == 'refs/heads/main' }}", {"github": {"ref": "refs/heads/main"}})
    assert not enabled("${{ nope( }}", {})
    assert not enabled(False, {})
