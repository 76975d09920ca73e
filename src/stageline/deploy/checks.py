"""One probe of a health check: HTTP, command or Prometheus. Never raises for the probe.

Each probe returns a `CheckResult` whose `ok` says whether the environment looked
healthy and whose `detail` says what was seen, in words a person on call can act
on. Anything that goes wrong while probing (connection refused, a timeout, a
command that cannot start, an unreachable Prometheus, a `fail_if` that cannot be
evaluated) is a failed probe with the error as its detail, never an exception;
only cancellation propagates (after killing a running command).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from stageline.deploy.config import CheckConfig, HttpCheck, PrometheusCheck
from stageline.deploy.shell import shell
from stageline.durations import format_duration
from stageline.errors import ExpressionError

#: How much of a command's output a result keeps (its last lines).
_OUTPUT_TAIL = 5


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One probe's outcome; `failures` and `tripped` are filled in by the window."""

    check: str
    ok: bool
    detail: str
    #: When the probe finished (seconds since the epoch) and how long it took.
    at: float
    elapsed: float
    #: Failures of this check so far in the window, this one included.
    failures: int = 0
    #: This failure took the check past its failure_limit.
    tripped: bool = False


async def probe(
    check: CheckConfig,
    client: httpx.AsyncClient,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CheckResult:
    """Run `check` once."""
    started = time.perf_counter()
    timeout = check.timeout.total_seconds()
    if check.http is not None:
        ok, detail = await _http(check.http, client, timeout)
    elif check.prometheus is not None:
        ok, detail = await _prometheus(check.prometheus, client, timeout)
    else:
        ok, detail = await _command(check.command or "", timeout, cwd, env)
    return CheckResult(check.name, ok, detail, time.time(), time.perf_counter() - started)


async def _http(spec: HttpCheck, client: httpx.AsyncClient, timeout: float) -> tuple[bool, str]:
    started = time.perf_counter()
    try:
        response = await client.get(spec.url, timeout=timeout)
    except httpx.TimeoutException:
        return False, f"GET {spec.url}: no response within {format_duration(timeout)}"
    except httpx.HTTPError as err:
        return False, f"GET {spec.url}: {_describe(err)}"
    latency = time.perf_counter() - started
    seen = f"HTTP {response.status_code} in {format_duration(latency)}"
    problems = []
    if response.status_code != spec.status:
        problems.append(f"status {response.status_code}, expected {spec.status}")
    if spec.max_latency is not None and latency > spec.max_latency.total_seconds():
        problems.append(
            f"latency {format_duration(latency)} over {format_duration(spec.max_latency)}"
        )
    if spec.body_contains is not None and spec.body_contains not in response.text:
        problems.append(f"body does not contain {spec.body_contains!r}")
    if problems:
        return False, f"GET {spec.url}: " + "; ".join(problems)
    return True, f"GET {spec.url}: {seen}"


async def _command(
    command: str, timeout: float, cwd: str | None, env: Mapping[str, str] | None
) -> tuple[bool, str]:
    try:  # its own group, killed when it ends or this process dies (deploy.shell)
        async with shell(
            command,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        ) as process:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:  # an OSError too: first
        return False, f"{command}: still running after {format_duration(timeout)}; killed"
    except OSError as err:
        return False, f"{command}: cannot start: {err.strerror or err}"
    tail = output.decode(errors="replace").strip().splitlines()[-_OUTPUT_TAIL:]
    said = f": {' | '.join(tail)}" if tail else ""
    if process.returncode == 0:
        return True, f"{command}: exit 0{said}"
    return False, f"{command}: exit {process.returncode}{said}"


async def _prometheus(
    spec: PrometheusCheck, client: httpx.AsyncClient, timeout: float
) -> tuple[bool, str]:
    endpoint = spec.url.rstrip("/") + "/api/v1/query"
    try:
        response = await client.get(endpoint, params={"query": spec.query}, timeout=timeout)
        payload = response.json()
    except httpx.TimeoutException:
        return False, f"Prometheus at {spec.url}: no response within {format_duration(timeout)}"
    except httpx.HTTPError as err:
        return False, f"Prometheus unreachable at {spec.url}: {_describe(err)}"
    except ValueError:
        return False, f"Prometheus at {spec.url}: HTTP {response.status_code}, not a JSON answer"
    if not isinstance(payload, dict) or payload.get("status") != "success":
        error = payload.get("error", "no error given") if isinstance(payload, dict) else payload
        return False, f"Prometheus query {spec.query!r} failed: {error}"
    try:
        samples = _samples(payload.get("data"))
    except ValueError as err:
        return False, f"Prometheus query {spec.query!r}: {err}"
    return _judge(spec, samples)


def _samples(data: Any) -> list[tuple[float | None, dict[str, str]]]:
    """(value, labels) of each sample of an instant query answer.

    An empty vector gives one sample with value None: ``sum(rate(x[1m]))`` over no series
    answers empty, which is usually "no errors", so the condition decides (``result >
    0.05`` is false for null), not the emptiness.
    """
    if not isinstance(data, dict):
        raise ValueError("answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return [(float(result[1]), {})]
    if kind == "vector" and isinstance(result, list):
        if not result:
            return [(None, {})]
        return [(float(item["value"][1]), dict(item.get("metric", {}))) for item in result]
    raise ValueError(f"answer of type {kind!r} is not an instant vector or scalar")


def _judge(
    spec: PrometheusCheck, samples: list[tuple[float | None, dict[str, str]]]
) -> tuple[bool, str]:
    from stageline.expressions import evaluate_condition

    for value, labels in samples:
        try:
            failing = evaluate_condition(spec.fail_if, {"result": value, "labels": labels})
        except ExpressionError as err:
            return False, f"fail_if {spec.fail_if!r} cannot be evaluated: {err.message}"
        if failing:
            where = f" {_labels(labels)}" if labels else ""
            return False, f"{spec.query} = {_number(value)}{where}: fail_if {spec.fail_if!r} holds"
    values = ", ".join(_number(value) for value, _ in samples)
    return True, f"{spec.query} = {values}"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:g}"


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


__all__ = ["CheckResult", "probe"]
