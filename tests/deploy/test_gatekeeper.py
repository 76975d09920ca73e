"""The gatekeeper inside real runs: one gate per run and environment, decisions from
another connection, the environment queue, wait timers, cancellation."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from stageline.executors.fake import FakeExecutor, Script
from stageline.runs.states import Conclusion
from stageline.store import Store, open_store
from tests.deploy.harness import (
    ROUTE,
    Recorder,
    Sent,
    deploy_job,
    deploy_plan,
    git_repo,
    hooks_for,
    run_with,
)
from tests.engine.conftest import job, legs

GATED = """environments:
  production:
    approval:
      rules:
        - {reviewers: [bob, carol], required: 2}
"""


async def decide_when_waiting(home: Path, *decisions: tuple[str, str]) -> None:
    """Another connection (as `stageline approve` would be) decides once the gate opens."""
    with open_store(home) as other:
        while not (gates := other.deployments.gates_of_run(1, status="pending")):
            await asyncio.sleep(0.01)
        for reviewer, verdict in decisions:
            other.deployments.record_decision(1, gates[0].id, reviewer, verdict)


def test_one_approval_covers_every_job_and_leg_of_the_run(tmp_path: Path, store: Store) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    the_plan = deploy_plan(
        sha,
        job("test"),
        *legs("deploy", [{"region": "eu"}, {"region": "us"}], needs=["test"]),
        deploy_job("smoke", "production", ["test"]),
    )
    for leg in the_plan.jobs[1:3]:
        leg.environment = the_plan.jobs[3].environment
    sent = Sent()
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, GATED + ROUTE, executor, sent)
    recorder = Recorder()

    async def main() -> Conclusion:
        decider = asyncio.ensure_future(
            decide_when_waiting(store.home, ("bob", "approve"), ("carol", "approve"))
        )
        outcome = await run_with(store, repo, the_plan, executor, hooks, recorder)
        await decider
        return outcome.conclusion

    assert asyncio.run(main()) is Conclusion.SUCCESS
    hooks.close()
    assert sorted(executor.started) == ["deploy.1", "deploy.2", "smoke", "test"]
    [gate] = store.deployments.gates_of_run(1)
    assert (gate.status, gate.decided_by) == ("approved", ["bob", "carol"])
    waiting = {e.job_key for e in recorder.kinds("job.waiting")}  # type: ignore[attr-defined]
    assert waiting == {"deploy.1", "deploy.2", "smoke"}
    events = sent.events()
    assert events.count("approval.requested") == 1
    assert events.count("approval.granted") == 1
    assert events.count("deployment.succeeded") == 3
    records = store.deployments.list_deployments(str(repo))
    assert [r.approved_by for r in records] == [["bob", "carol"]] * 3
    # Never two at once in one environment: each started after the previous finished.
    for earlier, later in itertools.pairwise(records):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at


def test_deploys_of_two_runs_never_overlap(tmp_path: Path, store: Store) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor(default=Script(delay=0.15))
    config = "environments:\n  staging:\n"

    async def main() -> None:
        with open_store(store.home) as second:
            first_hooks = hooks_for(store, repo, config, executor)
            second_hooks = hooks_for(second, repo, config, executor)
            await asyncio.gather(
                run_with(
                    store, repo, deploy_plan(sha, deploy_job("a", "staging")), executor, first_hooks
                ),
                run_with(
                    second,
                    repo,
                    deploy_plan(sha, deploy_job("b", "staging")),
                    executor,
                    second_hooks,
                ),
            )

    asyncio.run(main())
    first, second = store.deployments.list_deployments(str(repo))
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at
    assert (first.status, second.status) == ("inactive", "success")


def test_a_wait_timer_holds_the_job_then_lets_it_through(tmp_path: Path, store: Store) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    config = "environments:\n  staging:\n    approval: {wait_timer: 300ms}\n"
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, config, executor)
    recorder = Recorder()
    outcome = asyncio.run(
        run_with(
            store, repo, deploy_plan(sha, deploy_job("d", "staging")), executor, hooks, recorder
        )
    )
    assert outcome.conclusion is Conclusion.SUCCESS
    [waiting] = recorder.kinds("job.waiting")
    assert "wait timer until" in waiting.waiting_for  # type: ignore[attr-defined]
    [gate] = store.deployments.gates_of_run(1)
    [record] = store.deployments.list_deployments()
    assert gate.decided_at is not None and record.started_at is not None
    assert (record.started_at - gate.requested_at).total_seconds() >= 0.3


def test_cancelling_a_waiting_run_leaves_the_gate_undecided(tmp_path: Path, store: Store) -> None:
    repo, sha = git_repo(tmp_path / "repo")
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, GATED, executor)

    async def main() -> Conclusion:
        spec_plan = deploy_plan(sha, deploy_job("d", "production"))
        from stageline.engine.scheduler import RunSpec, Scheduler, Slots

        scheduler = Scheduler(
            store,
            executor,
            RunSpec(plan=spec_plan, repo_dir=str(repo)),
            slots=Slots(2),
            gatekeeper=hooks.gatekeeper,
            after_job=hooks.after_job,
        )
        task = asyncio.ensure_future(scheduler.run())
        while not store.deployments.gates_of_run(1):
            await asyncio.sleep(0.01)
        scheduler.cancel("stopped by the test")
        return (await task).conclusion

    assert asyncio.run(main()) is Conclusion.CANCELLED
    assert executor.started == []
    [gate] = store.deployments.gates_of_run(1)
    assert gate.status == "pending"
    assert store.deployments.list_deployments() == []


def test_where_server_counts_server_decisions_and_releases_the_secrets_after(
    tmp_path: Path, store: Store
) -> None:
    """A decision at a terminal (recorded straight in the store, past the CLI's refusal)
    does not count; the environment's secrets reach the deploy only once its gate passed."""
    repo, sha = git_repo(tmp_path / "repo")
    config = GATED.replace("required: 2}", "required: 1}\n      where: server") + ROUTE
    store.secrets.put(str(repo), "DEPLOY_KEY", "k-123", "production")
    store.secrets.put(str(repo), "OTHER_ENV", "nope", "staging")
    the_plan = deploy_plan(sha, job("test"), deploy_job("deploy", "production", ["test"]))
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, config, executor)

    async def decide() -> None:
        with open_store(store.home) as other:
            while not (gates := other.deployments.gates_of_run(1, status="pending")):
                await asyncio.sleep(0.01)
            local = {"via": "local", "os_user": "bob", "git": "Bob <bob@example.com>"}
            other.deployments.record_decision(1, gates[0].id, "bob", "approve", data=local)
            server = {"via": "server", "user": "carol"}
            other.deployments.record_decision(1, gates[0].id, "carol", "approve", data=server)

    async def main() -> Conclusion:
        decider = asyncio.ensure_future(decide())
        outcome = await run_with(store, repo, the_plan, executor, hooks)
        await decider
        return outcome.conclusion

    assert asyncio.run(main()) is Conclusion.SUCCESS
    hooks.close()
    [gate] = store.deployments.gates_of_run(1)
    assert (gate.status, gate.decided_by) == ("approved", ["carol"])
    assert executor.requests["deploy"].secrets == {"DEPLOY_KEY": "k-123"}
    assert executor.requests["test"].secrets == {}


def _gate_with_prompt(tmp_path: Path, store: Store, where: str, run: int) -> list[str]:
    """A gated run with a terminal prompt nobody answers, settled by a server decision
    (once the prompt was offered, when it is); the questions the prompt was asked."""
    repo, sha = git_repo(tmp_path / f"repo-{where}")
    asked: list[str] = []

    async def prompt(question: str) -> str | None:
        asked.append(question)
        await asyncio.sleep(3600)
        return None

    config = GATED.replace("required: 2}", f"required: 1}}\n      where: {where}") + ROUTE
    executor = FakeExecutor()
    hooks = hooks_for(store, repo, config, executor)
    hooks.runtime.prompt = prompt
    hooks.gatekeeper.identity = lambda: "bob"

    async def decide() -> None:
        with open_store(store.home) as other:
            while not (gates := other.deployments.gates_of_run(run, status="pending")):
                await asyncio.sleep(0.01)
            while where == "any" and not asked:
                await asyncio.sleep(0.01)
            data = {"via": "server", "user": "carol"}
            other.deployments.record_decision(run, gates[0].id, "carol", "approve", data=data)

    async def main() -> Conclusion:
        decider = asyncio.ensure_future(decide())
        the_plan = deploy_plan(sha, deploy_job("deploy", "production"))
        outcome = await run_with(store, repo, the_plan, executor, hooks)
        await decider
        return outcome.conclusion

    assert asyncio.run(main()) is Conclusion.SUCCESS
    hooks.close()
    return asked


def test_the_terminal_prompt_is_offered_only_where_terminals_may_decide(
    tmp_path: Path, store: Store
) -> None:
    assert len(_gate_with_prompt(tmp_path, store, "any", 1)) == 1
    assert _gate_with_prompt(tmp_path, store, "server", 2) == []
