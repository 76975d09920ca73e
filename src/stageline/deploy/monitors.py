"""The watch window after a deploy: probe every check each `interval` for `duration`.

`watch` is what the engine awaits after a deploy job succeeded (its after-job hook).
Every check is probed once per round, all checks of a round concurrently; rounds
start at 0, interval, 2·interval, ... before `duration` is up (a slow round delays
the next, it never overlaps it), and the window ends at `duration`. The first round
always runs, so a window never passes unprobed. A check *trips*
on failure number ``failure_limit + 1`` within the window; then its `on_fail`
decides: ``observe`` records it and watching goes on, ``pause`` and ``rollback``
end the window at once with that verdict (rollback wins when both trip in one
round). Every probe result is reported through `on_result` as it arrives, so the
engine can record it and notify ``monitor.check_failed`` for a tripped check.

Cancelling the task that awaits `watch` stops the window promptly: probes in
flight are cancelled and running commands killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx

from stageline.deploy.checks import CheckResult, probe
from stageline.deploy.config import CheckConfig, MonitorConfig

Outcome = Literal["passed", "pause", "rollback"]
OnResult = Callable[[CheckResult], None]

_SEVERITY = {"observe": 0, "pause": 1, "rollback": 2}


@dataclass(slots=True)
class MonitorVerdict:
    """How the window ended. `check`/`reason` name the check that ended it (pause or
    rollback); `observed` lists observe-only checks that tripped but did not."""

    outcome: Outcome
    check: str | None = None
    reason: str | None = None
    observed: list[CheckResult] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    rounds: int = 0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


async def watch(
    monitor: MonitorConfig,
    *,
    on_result: OnResult | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> MonitorVerdict:
    """Run the monitor window and return its verdict. `cwd`/`env` are for command
    checks (the workspace of the deploy); `transport` lets a caller route HTTP."""
    loop = asyncio.get_running_loop()
    interval = monitor.interval.total_seconds()
    if interval <= 0:
        raise ValueError("a monitor's interval must be more than 0s")
    failures = {check.name: 0 for check in monitor.checks}
    verdict = MonitorVerdict("passed")
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        # The window opens once the client is ready, and its first round always runs:
        # a window never passes without a probe, however loaded the machine.
        next_round = loop.time()
        end = next_round + monitor.duration.total_seconds()
        while True:
            await asyncio.sleep(max(0.0, next_round - loop.time()))
            verdict.rounds += 1
            results = await asyncio.gather(
                *(probe(check, client, cwd=cwd, env=env) for check in monitor.checks)
            )
            ended = _tally(monitor.checks, results, failures, verdict, on_result)
            if ended is not None:
                return ended
            now = loop.time()
            while next_round <= now:
                next_round += interval
            if next_round >= end:
                break
    await asyncio.sleep(max(0.0, end - loop.time()))
    return verdict


def _tally(
    checks: list[CheckConfig],
    results: list[CheckResult],
    failures: dict[str, int],
    verdict: MonitorVerdict,
    on_result: OnResult | None,
) -> MonitorVerdict | None:
    """Count one round's results; the verdict that ends the window, if any."""
    worst: tuple[CheckConfig, CheckResult] | None = None
    for check, result in zip(checks, results, strict=True):
        if not result.ok:
            failures[check.name] += 1
        count = failures[check.name]
        tripped = not result.ok and count == check.failure_limit + 1
        result = replace(result, failures=count, tripped=tripped)
        verdict.results.append(result)
        if on_result is not None:
            on_result(result)
        if not tripped:
            continue
        if check.on_fail == "observe":
            verdict.observed.append(result)
        elif worst is None or _SEVERITY[check.on_fail] > _SEVERITY[worst[0].on_fail]:
            worst = (check, result)
    if worst is None:
        return None
    check, result = worst
    verdict.outcome = "rollback" if check.on_fail == "rollback" else "pause"
    verdict.check = check.name
    verdict.reason = (
        f"check {check.name!r} failed {result.failures} time(s) "
        f"(failure_limit {check.failure_limit}): {result.detail}"
    )
    return verdict


__all__ = ["MonitorVerdict", "OnResult", "Outcome", "watch"]
