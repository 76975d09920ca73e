"""The monitor window against real local servers: pass, trip, observe, pause, rollback, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stageline.deploy.checks import CheckResult
from stageline.deploy.config import MonitorConfig, parse_config
from stageline.deploy.monitors import MonitorVerdict, watch
from tests.deploy.servers import Service, serve
from tests.support.http import free_port


@pytest.fixture
def service() -> Iterator[Service]:
    with serve(Service()) as running:
        yield running


def monitor(duration: str, *checks: dict[str, Any], interval: str = "50ms") -> MonitorConfig:
    spec = {"duration": duration, "interval": interval, "checks": list(checks)}
    config = parse_config(json.dumps({"environments": {"e": {"monitor": spec}}}))
    found = config.environments["e"].monitor
    assert found is not None
    return found


def health(service: Service, **extra: Any) -> dict[str, Any]:
    return {"name": "health", "http": {"url": f"{service.url}/health"}, **extra}


def run(config: MonitorConfig, on_result: Any = None, **kw: Any) -> MonitorVerdict:
    return asyncio.run(watch(config, on_result=on_result, **kw))


def test_a_healthy_window_passes(service: Service) -> None:
    seen: list[CheckResult] = []
    verdict = run(monitor("300ms", health(service)), seen.append)
    assert verdict.passed and verdict.check is None and verdict.observed == []
    assert verdict.rounds >= 1
    assert seen == verdict.results
    assert len(seen) == verdict.rounds == service.count("/health")
    assert all(r.ok and r.failures == 0 for r in seen)


def test_a_window_shorter_than_its_setup_still_probes_once(service: Service) -> None:
    """A window ends only after its first round: on a loaded machine the HTTP client's
    setup alone may outlast a short window, which must not then pass unprobed."""
    verdict = run(monitor("1ms", health(service)))
    assert verdict.passed and verdict.rounds == 1
    assert service.count("/health") == 1


def test_failures_within_the_limit_are_tolerated(service: Service) -> None:
    service.healthy = False
    verdict = run(monitor("200ms", health(service, failure_limit=1000)))
    assert verdict.passed
    assert [r.failures for r in verdict.results] == list(range(1, verdict.rounds + 1))


def test_health_turning_bad_trips_after_the_limit_and_rolls_back(service: Service) -> None:
    def on_result(result: CheckResult) -> None:
        seen.append(result)
        if len(seen) == 2:  # the cue: the service degrades after two good probes
            service.healthy = False

    seen: list[CheckResult] = []
    # A window far longer than the test: only the verdict can end it.
    verdict = run(monitor("10m", health(service, failure_limit=2)), on_result)
    assert verdict.outcome == "rollback" and verdict.check == "health"
    assert [(r.ok, r.failures, r.tripped) for r in seen] == [
        (True, 0, False),
        (True, 0, False),
        (False, 1, False),
        (False, 2, False),
        (False, 3, True),
    ]
    assert verdict.reason == (
        f"check 'health' failed 3 time(s) (failure_limit 2): GET {service.url}/health: "
        "status 503, expected 200"
    )


def test_observe_records_and_goes_on_then_pause_ends_the_window(
    service: Service, tmp_path: Path
) -> None:
    flag = tmp_path / "smoke-ok"
    flag.write_text("")
    service.healthy = False
    smoke = {"name": "smoke", "command": "test -e smoke-ok", "on_fail": "pause"}

    def on_result(result: CheckResult) -> None:
        if result.check == "health" and result.tripped:
            flag.unlink()  # after health tripped (observed), the smoke test starts failing

    verdict = run(
        monitor("10m", health(service, on_fail="observe"), smoke), on_result, cwd=str(tmp_path)
    )
    assert verdict.outcome == "pause" and verdict.check == "smoke"
    (observed,) = verdict.observed
    assert observed.check == "health" and observed.failures == 1
    smoke_results = [r for r in verdict.results if r.check == "smoke"]
    assert [r.ok for r in smoke_results] == [True, False]
    assert verdict.reason is not None and "test -e smoke-ok: exit 1" in verdict.reason


def test_rollback_wins_over_pause_in_the_same_round(service: Service) -> None:
    service.healthy = False
    down = {"name": "down", "command": "exit 1", "on_fail": "pause"}
    verdict = run(monitor("10m", down, health(service)))
    assert verdict.outcome == "rollback" and verdict.check == "health" and verdict.rounds == 1


def test_an_unreachable_prometheus_fails_its_check() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    check = {"name": "errors", "prometheus": {"url": url, "query": "up", "fail_if": "result < 1"}}
    verdict = run(monitor("10m", check))
    assert verdict.outcome == "rollback"
    assert verdict.reason is not None
    assert f"Prometheus unreachable at {url}: ConnectError" in verdict.reason


def test_prometheus_in_the_window(service: Service) -> None:
    service.vector("sum(rate(http_errors_total[1m]))", 0.01)
    check = {
        "name": "error-rate",
        "prometheus": {
            "url": service.url,
            "query": "sum(rate(http_errors_total[1m]))",
            "fail_if": "result > 0.05",
        },
        "on_fail": "pause",
    }

    def on_result(result: CheckResult) -> None:
        service.vector("sum(rate(http_errors_total[1m]))", 0.2)  # errors climb after a probe

    verdict = run(monitor("10m", check), on_result)
    assert verdict.outcome == "pause" and verdict.rounds == 2
    assert [r.ok for r in verdict.results] == [True, False]


def test_cancelling_stops_the_window_and_kills_commands(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    slow = {"name": "slow", "command": f"echo $$ > {pid_file}; exec sleep 30", "timeout": "1m"}

    async def scenario() -> int:
        task = asyncio.create_task(watch(monitor("10m", slow)))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(pid_file.read_text())

    pid = asyncio.run(scenario())
    assert not Path(f"/proc/{pid}").exists() or ") Z " in Path(f"/proc/{pid}/stat").read_text()


def test_a_zero_interval_is_refused() -> None:
    config = monitor("1s", {"name": "c", "command": "true"})
    config.interval = timedelta(0)
    with pytest.raises(ValueError, match="interval must be more than 0s"):
        run(config)
