"""Single probes against real local servers and real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stageline.deploy.checks import CheckResult, probe
from stageline.deploy.config import CheckConfig, parse_config
from tests.deploy.servers import Service, serve
from tests.support.http import free_port


@pytest.fixture
def service() -> Iterator[Service]:
    with serve(Service()) as running:
        yield running


def check(yaml: str) -> CheckConfig:
    """One check parsed from `.stageline.yml` text (so the schema is exercised too)."""
    config = parse_config(
        "environments:\n  e:\n    monitor:\n      duration: 1s\n      checks:\n        - " + yaml
    )
    monitor = config.environments["e"].monitor
    assert monitor is not None
    return monitor.checks[0]


def run(spec: CheckConfig, **kw: object) -> CheckResult:
    async def go() -> CheckResult:
        async with httpx.AsyncClient() as client:
            return await probe(spec, client, **kw)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_http_healthy_then_bad(service: Service) -> None:
    spec = check(f"{{name: h, http: {{url: '{service.url}/health', body_contains: ok}}}}")
    good = run(spec)
    assert good.ok and good.check == "h"
    assert good.detail.startswith(f"GET {service.url}/health: HTTP 200 in ")
    service.healthy = False
    bad = run(spec)
    assert not bad.ok
    assert bad.detail == (
        f"GET {service.url}/health: status 503, expected 200; body does not contain 'ok'"
    )


def test_http_latency(service: Service) -> None:
    service.delay = 0.2
    slow = run(check(f"{{name: h, http: {{url: '{service.url}/health', max_latency: 50ms}}}}"))
    assert not slow.ok and "over 50ms" in slow.detail


def test_http_unreachable_and_timeout(service: Service) -> None:
    gone = run(check(f"{{name: h, http: {{url: 'http://127.0.0.1:{free_port()}/health'}}}}"))
    assert not gone.ok and "ConnectError" in gone.detail
    service.delay = 0.5
    late = run(check(f"{{name: h, timeout: 100ms, http: {{url: '{service.url}/health'}}}}"))
    assert not late.ok and late.detail.endswith("no response within 100ms")


def test_command_exit_code_cwd_and_env(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("here\n")
    spec = check("{name: c, command: 'cat marker && echo \"$GREETING\"'}")
    env = {**os.environ, "GREETING": "hello"}
    good = run(spec, cwd=str(tmp_path), env=env)
    assert good.ok and good.detail == 'cat marker && echo "$GREETING": exit 0: here | hello'
    bad = run(check("{name: c, command: 'echo broken >&2; exit 3'}"), cwd=str(tmp_path))
    assert not bad.ok and bad.detail == "echo broken >&2; exit 3: exit 3: broken"


def test_command_timeout_kills_the_process_tree(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spec = check(f"{{name: c, timeout: 200ms, command: 'sleep 30 & echo $! > {pid_file}; wait'}}")
    result = run(spec)
    assert not result.ok and result.detail.endswith("still running after 200ms; killed")
    child = int(pid_file.read_text())
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by init) counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return sys.platform != "linux" or not status.exists() or ") Z " not in status.read_text()


def prometheus(url: str, query: str, fail_if: str) -> CheckConfig:
    spec = {"url": url, "query": query, "fail_if": fail_if}
    return check(json.dumps({"name": "p", "prometheus": spec}))


def test_prometheus_condition_on_the_result(service: Service) -> None:
    query = "sum(rate(http_errors_total[1m]))"
    service.vector(query, 0.01)
    spec = prometheus(service.url, query, "result > 0.05")
    good = run(spec)
    assert good.ok and good.detail == f"{query} = 0.01"
    service.vector(query, 0.07)
    bad = run(spec)
    assert not bad.ok
    assert bad.detail == f"{query} = 0.07 {{i=\"0\"}}: fail_if 'result > 0.05' holds"


def test_prometheus_any_sample_fails_and_labels_are_visible(service: Service) -> None:
    service.vector("up", 1, 0, job="web")
    assert not run(prometheus(service.url, "up", "result == 0")).ok
    assert run(prometheus(service.url, "up", "result == 0 && labels.job == 'db'")).ok


def test_prometheus_empty_vector_lets_the_condition_decide(service: Service) -> None:
    service.vector("errors")
    assert run(prometheus(service.url, "errors", "result > 0.05")).ok
    missing = run(prometheus(service.url, "errors", "result == null"))
    assert not missing.ok and "no data" in missing.detail


def test_prometheus_errors_are_failing_checks(service: Service) -> None:
    bad_query = run(prometheus(service.url, "nope", "result > 1"))
    assert (
        not bad_query.ok
        and bad_query.detail == "Prometheus query 'nope' failed: unknown query nope"
    )
    url = f"http://127.0.0.1:{free_port()}"
    unreachable = run(prometheus(url, "up", "result > 1"))
    assert not unreachable.ok
    assert unreachable.detail.startswith(f"Prometheus unreachable at {url}: ConnectError")
    not_json = run(prometheus(service.url + "/health#", "up", "result > 1"))
    assert not not_json.ok and "not a JSON answer" in not_json.detail
