"""The executor contract (stageline.executors.base), checked for every executor.

Each scenario is plain data: real steps for executors that run them, and the behaviour
(`conclusion`, `lines`, `hang`) a scripted executor should imitate. To check another
executor, add one `ExecutorCase` to `CASES`, e.g. for the fake executor::

    ExecutorCase("fake", lambda s: FakeExecutor(default=Script(s.conclusion, lines=s.lines,
                                                                hang=s.hang))),
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stageline.executors.base import Executor, JobRequest, JobResult
from stageline.executors.local import LocalExecutor
from stageline.plan.model import PlannedStep
from stageline.runs.states import Conclusion
from tests.runner.helpers import RecordingSink, job, make_repo, request, step


@dataclass(frozen=True)
class Scenario:
    steps: list[PlannedStep]
    conclusion: Conclusion
    lines: list[str] = field(default_factory=list)
    hang: bool = False


@dataclass(frozen=True)
class ExecutorCase:
    name: str
    make: Callable[[Scenario], Executor]


CASES = [
    ExecutorCase("local", lambda s: LocalExecutor(kill_grace=1.0)),
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
    case: ExecutorCase, scenario: Scenario, tmp: Path, cancel_on: str | None = None
) -> tuple[JobRequest, RecordingSink, JobResult]:
    repo = make_repo(tmp)
    req = request(tmp, repo, job(*scenario.steps), secrets={"TOKEN": "zz-secret"})
    executor = case.make(scenario)
    sink = RecordingSink()

    async def go() -> JobResult:
        cancel = asyncio.Event()
        task = asyncio.create_task(executor.run_job(req, sink, cancel))
        if cancel_on is not None:
            while cancel_on not in sink.lines() and not task.done():
                await asyncio.sleep(0.01)
            cancel.set()
        return await asyncio.wait_for(task, 30)

    return req, sink, asyncio.run(go())


def test_executor_has_a_name(case: ExecutorCase) -> None:
    assert isinstance(case.make(SUCCEED).name, str) and case.make(SUCCEED).name


def test_success_reports_every_step_in_order(case: ExecutorCase, tmp_path: Path) -> None:
    _, sink, result = _run(case, SUCCEED, tmp_path)
    assert result.conclusion == Conclusion.SUCCESS
    assert [line for line in sink.lines() if not line.startswith("##[")] == SUCCEED.lines
    _check_sink_order(sink, len(SUCCEED.steps))


def test_a_failing_step_is_a_result_not_an_exception(case: ExecutorCase, tmp_path: Path) -> None:
    _, sink, result = _run(case, FAIL, tmp_path)
    assert result.conclusion == Conclusion.FAILURE
    assert any(a.level == "error" for a in result.annotations)
    assert [s.conclusion for s in result.steps] == [Conclusion.FAILURE, Conclusion.SKIPPED]
    _check_sink_order(sink, len(FAIL.steps))


def test_cancel_stops_promptly_and_cleans_up(case: ExecutorCase, tmp_path: Path) -> None:
    req, sink, result = _run(case, HANG, tmp_path, cancel_on="started")
    assert result.conclusion == Conclusion.CANCELLED
    assert [s.conclusion for s in result.steps] == [Conclusion.CANCELLED, Conclusion.SKIPPED]
    _check_sink_order(sink, len(HANG.steps))
    work = Path(req.work_root)
    assert not work.exists() or [p.name for p in work.iterdir() if not p.name.startswith(".")] == []


def test_workspace_is_removed_after_the_job(case: ExecutorCase, tmp_path: Path) -> None:
    req, _, _ = _run(case, SUCCEED, tmp_path)
    work = Path(req.work_root)
    assert not work.exists() or [p.name for p in work.iterdir() if not p.name.startswith(".")] == []


def test_secrets_stay_out_of_repr(case: ExecutorCase, tmp_path: Path) -> None:
    req, _, _ = _run(case, SUCCEED, tmp_path)
    assert "zz-secret" not in repr(req)
