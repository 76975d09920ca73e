"""The executor contract (stageline.executors.base), checked for every executor.

Each scenario is plain data: real steps for executors that run them, and the behaviour
(`conclusion`, `lines`, `hang`) a scripted executor imitates. To check another executor,
add one `ExecutorCase` to `CASES`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from stageline.executors.base import (
    Annotation,
    CancelToken,
    Executor,
    JobRefused,
    JobRequest,
    JobResult,
)
from stageline.executors.fake import FakeExecutor, Script
from stageline.executors.local import LocalExecutor
from stageline.executors.sandbox import SandboxExecutor
from stageline.plan.model import PlannedStep
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, dirs, job, make_repo, request, step


@dataclass(frozen=True)
class Scenario:
    steps: list[PlannedStep]
    conclusion: Conclusion
    lines: list[str] = field(default_factory=list)
    hang: bool = False


@dataclass(frozen=True)
class ExecutorCase:
    name: str
    make: Callable[[Scenario, float], Executor]


def _fake(s: Scenario, heartbeat_s: float) -> FakeExecutor:
    failed = [Annotation("error", "exit 3")] if s.conclusion is Conclusion.FAILURE else []
    script = Script(s.conclusion, lines=s.lines, hang=s.hang, annotations=failed)
    return FakeExecutor(default=script, heartbeat_s=heartbeat_s)


CASES = [
    ExecutorCase("local", lambda s, hb: LocalExecutor(kill_grace=1.0, heartbeat_s=hb)),
    ExecutorCase("fake", _fake),
    ExecutorCase("sandbox", lambda s, hb: SandboxExecutor(kill_grace=1.0, heartbeat_s=hb)),
]

SUCCEED = Scenario([step(0, "echo one"), step(1, "echo two")], Conclusion.SUCCESS, ["one", "two"])
FAIL = Scenario(
    [step(0, "echo before; exit 3"), step(1, "echo not-run")], Conclusion.FAILURE, ["before"]
)
HANG = Scenario(
    [step(0, "echo started; sleep 60"), step(1, "echo not-run")],
    Conclusion.CANCELLED,
    ["started"],
    hang=True,
)


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request: pytest.FixtureRequest) -> ExecutorCase:
    found: ExecutorCase = request.param
    return found


class Flag:
    """A cancel token that is not an `asyncio.Event`, as a remote executor would pass."""

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def set(self) -> None:
        self._set = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> bool:
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return True


def _check_nothing_ran_after(result: JobResult, ended: Conclusion) -> None:
    conclusions = [s.conclusion for s in result.steps]
    assert ended in conclusions
    after = conclusions[conclusions.index(ended) + 1 :]
    assert after == [Conclusion.SKIPPED] * len(after), "a step ran after the job ended"


def _check_sink_order(sink: RecordingSink, n_steps: int) -> None:
    started: set[int] = set()
    finished: list[int] = []
    for kind, value in sink.calls:
        if kind == "started":
            started.add(value[0])
        elif kind == "log":
            assert value[0] in started, "log line before step_started"
            assert value[0] not in finished, "log line after step_finished"
        elif kind == "finished":
            finished.append(value.index)
    assert sorted(finished) == list(range(n_steps)), "step_finished once per step"


def _run(
    case: ExecutorCase,
    scenario: Scenario,
    tmp: Path,
    cancel_on: str | None = None,
    token: Callable[[], CancelToken] = asyncio.Event,
    heartbeat_s: float = 10.0,
) -> tuple[JobRequest, RecordingSink, JobResult]:
    repo = make_repo(tmp)
    req = request(tmp, repo, job(*scenario.steps), secrets={"TOKEN": "zz-secret"})
    executor = case.make(scenario, heartbeat_s)
    sink = RecordingSink()

    async def go() -> JobResult:
        await executor.start()
        try:
            cancel = token()
            task = asyncio.create_task(executor.run_job(req, sink, cancel))
            if cancel_on is not None:
                while cancel_on not in sink.lines() and not task.done():
                    await asyncio.sleep(0.01)
                cancel.set()  # type: ignore[attr-defined]
            return await asyncio.wait_for(task, 30)
        finally:
            await executor.close()

    return req, sink, asyncio.run(go())


def _left_in(req: JobRequest) -> list[str]:
    work = Path(dirs(req).work_root)
    return [p.name for p in work.iterdir() if not p.name.startswith(".")] if work.exists() else []


def test_executor_has_a_name(case: ExecutorCase) -> None:
    assert isinstance(case.make(SUCCEED, 10.0).name, str) and case.make(SUCCEED, 10.0).name


def test_success_reports_every_step_in_order(case: ExecutorCase, tmp_path: Path) -> None:
    _, sink, result = _run(case, SUCCEED, tmp_path)
    assert result.conclusion == Conclusion.SUCCESS
    arrived = iter(sink.lines())
    assert all(line in arrived for line in SUCCEED.lines), "every line, in order"
    _check_sink_order(sink, len(SUCCEED.steps))


def test_a_failing_step_is_a_result_not_an_exception(case: ExecutorCase, tmp_path: Path) -> None:
    _, sink, result = _run(case, FAIL, tmp_path)
    assert result.conclusion == Conclusion.FAILURE
    assert any(a.level == "error" for a in result.annotations)
    _check_nothing_ran_after(result, Conclusion.FAILURE)
    _check_sink_order(sink, len(FAIL.steps))


@pytest.mark.parametrize("token", [asyncio.Event, Flag], ids=["event", "token"])
def test_cancel_stops_promptly_and_cleans_up(
    case: ExecutorCase, tmp_path: Path, token: Callable[[], CancelToken]
) -> None:
    req, sink, result = _run(case, HANG, tmp_path, cancel_on="started", token=token)
    assert result.conclusion == Conclusion.CANCELLED
    _check_nothing_ran_after(result, Conclusion.CANCELLED)
    _check_sink_order(sink, len(HANG.steps))
    assert _left_in(req) == []


def test_workspace_is_removed_after_the_job(case: ExecutorCase, tmp_path: Path) -> None:
    req, _, _ = _run(case, SUCCEED, tmp_path)
    assert _left_in(req) == []


def test_secrets_stay_out_of_repr(case: ExecutorCase, tmp_path: Path) -> None:
    req, _, result = _run(case, SUCCEED, tmp_path)
    assert "zz-secret" not in repr(req) and "zz-secret" not in repr(result)


def test_the_result_survives_json(case: ExecutorCase, tmp_path: Path) -> None:
    _, _, result = _run(case, FAIL, tmp_path)
    assert JobResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_step_with_a_log_reports_its_size(case: ExecutorCase, tmp_path: Path) -> None:
    _, _, result = _run(case, SUCCEED, tmp_path)
    for each in result.steps:
        assert each.log_path is None or each.log_size is not None


def test_the_sink_hears_a_heartbeat_while_the_job_runs(case: ExecutorCase, tmp_path: Path) -> None:
    _, sink, result = _run(case, HANG, tmp_path, cancel_on="started", heartbeat_s=0.01)
    assert result.conclusion == Conclusion.CANCELLED
    assert ("heartbeat", None) in sink.calls


def test_a_job_sent_again_is_refused_the_next_attempt_runs_close_is_safe(
    case: ExecutorCase, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    req = request(tmp_path, repo, job(*SUCCEED.steps))
    executor = case.make(SUCCEED, 10.0)
    again, later = RecordingSink(), RecordingSink()

    async def go() -> JobResult:
        await executor.close()  # safe before start
        await executor.start()
        first = await executor.run_job(req, RecordingSink(), asyncio.Event())
        with pytest.raises(JobRefused, match="already accepted"):
            await executor.run_job(req, again, asyncio.Event())
        with pytest.raises(JobRefused):  # a copy is the same job: identity, not object
            await executor.run_job(JobRequest.from_dict(req.to_dict()), again, asyncio.Event())
        second = await executor.run_job(replace(req, attempt=2), later, asyncio.Event())
        await executor.close()
        await executor.close()  # and twice
        assert first.conclusion == second.conclusion == Conclusion.SUCCESS
        return second

    asyncio.run(go())
    assert again.calls == []  # refused before any sink call
    _check_sink_order(later, len(SUCCEED.steps))
