"""Team server benchmark: one big run started by a signed webhook, under read load.

For each store (SQLite in the data dir, and a throwaway PostgreSQL database), in one
invocation:

1. baseline: `stageline run --json` of the same workflow in the source repository, with
   the same store kind (its run time, time to its first job, peak RSS from `os.wait4`);
2. `stageline serve` as a child process; the API's runs list read at the target rate on
   the idle server (the latency baseline);
3. a signed post-receive delivery (`POST /hooks/git`) starts the run of N jobs; while it
   runs, the runs list is read at the same rate and C clients follow job logs over SSE;
4. figures: p50/p99 of the runs list under load against idle, time from the webhook to
   the first job started (record timestamps, one clock) against `stageline run`'s time
   from launch to its first job, per-job time against `stageline run` (ratio), and the
   serve process's peak RSS (`VmHWM` in /proc) against its idle RSS and the baseline's.

    python bench/bench_server.py                    # 500 jobs, 50 SSE clients, 200 req/s
    python bench/bench_server.py --quick            # a smoke-test size
    python bench/bench_server.py --store sqlite     # one store only

The load is open-loop: a request is sent at its scheduled time whether or not the ones
before it have answered, so a slow server shows as latency, not as fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = "bench"
SECRET = "bench-webhook-secret"
PASSWORD = "bench password"
#: Concurrent untimed requests before measuring (the server's threadpool has 40 threads).
WARM_UP = 40
#: Connections the runs-list reader keeps open (requests beyond them queue in the client).
READERS = 32


@dataclass(frozen=True)
class Size:
    jobs: int
    clients: int
    rate: float
    #: Seconds of the idle latency baseline.
    idle: float


FULL = Size(jobs=500, clients=50, rate=200.0, idle=5.0)
QUICK = Size(jobs=20, clients=4, rate=20.0, idle=1.0)


@dataclass
class Result:
    store: str
    jobs: int
    idle_ms: list[float] = field(default_factory=list)
    load_ms: list[float] = field(default_factory=list)
    errors: int = 0
    idle_errors: int = 0
    unanswered: int = 0
    idle_unanswered: int = 0
    load_s: float = 0.0
    hook_to_first_s: float = 0.0
    cli_to_first_s: float = 0.0
    server_run_s: float = 0.0
    cli_run_s: float = 0.0
    server_peak_mb: float = 0.0
    server_idle_mb: float = 0.0
    #: CPU seconds the serve process used in the idle phase, and from the webhook to the
    #: run's end (all its threads: API, followers, the engine; not the steps' processes).
    idle_cpu_s: float = 0.0
    load_cpu_s: float = 0.0
    cli_peak_mb: float = 0.0
    followed: int = 0
    reconnects: int = 0
    clients: int = 0
    conclusion: str = ""


def workflow(jobs: int) -> str:
    """Layers of up to 50 jobs, each job needing two of the layer before; every step
    writes a few log lines over ~0.1 s, so followers have something to follow."""
    width = min(50, jobs)
    lines = ["name: bench", "on: push", "jobs:"]
    for n in range(jobs):
        layer, i = divmod(n, width)
        lines += [f"  j{n}:", "    runs-on: ubuntu-latest"]
        if layer:
            before = {(layer - 1) * width + i, (layer - 1) * width + (i + 1) % width}
            lines.append(f"    needs: [{', '.join(f'j{b}' for b in sorted(before))}]")
        lines += [
            "    steps:",
            f'      - run: for i in 1 2 3 4 5; do echo "j{n} line $i"; sleep 0.02; done',
        ]
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def child_env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    if database_url:
        env["STAGELINE_DATABASE_URL"] = database_url
    return env


def stageline(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"stageline {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL, dropped afterwards."""
    import psycopg

    name = f"stageline_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def moment(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def run_times(document: dict[str, Any]) -> tuple[float, float, float]:
    """(run started, run finished, first job started) of a run document, epoch seconds."""
    jobs = document["jobs"]
    firsts = [moment(j["started_at"]) for j in jobs if j.get("started_at")]
    return moment(document["started_at"]), moment(document["finished_at"]), min(firsts)


def cli_baseline(source: Path, env: dict[str, str], result: Result) -> None:
    """`stageline run --json` of the same workflow: run time, launch → first job, RSS."""
    with tempfile.TemporaryFile("w+") as err:
        launched = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "stageline", "run", "--json"],
            cwd=source,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, for its ru_maxrss
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"stageline run failed ({process.returncode}):\n{err.read()[-2000:]}")
    started, finished, first = run_times(json.loads(out))
    result.cli_run_s = finished - started
    result.cli_to_first_s = first - launched
    result.cli_peak_mb = usage.ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, key: str) -> float:
    """`VmRSS` (now) or `VmHWM` (peak) of a process, from /proc, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def read_runs(client: httpx.AsyncClient, rate: float, stop: asyncio.Event) -> list[float]:
    """GET /api/v1/runs at `rate` a second (open loop) until `stop`; latencies in ms."""
    latencies: list[float] = []
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        began = time.perf_counter()
        try:
            answer = await client.get("/api/v1/runs", params={"limit": 20})
        except httpx.TransportError:
            FAILED[0] += 1
            return
        if answer.status_code != 200:
            FAILED[0] += 1
            return
        latencies.append((time.perf_counter() - began) * 1000)

    start, n = time.perf_counter(), 0
    while not stop.is_set():
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        n += 1
        if len(pending) >= MAX_PENDING:  # the backlog is full: this request is dropped
            UNANSWERED[0] += 1
            continue
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
        await asyncio.sleep(0)  # let it start (and the streams run) even when behind
    # requests still queued or in flight at the end are not waited for (a server slower
    # than the rate leaves a backlog): counted as unanswered
    for task in list(pending):
        task.cancel()
    UNANSWERED[0] += len(pending)
    await asyncio.gather(*pending, return_exceptions=True)
    return latencies


async def follow(client: httpx.AsyncClient, run_id: int, job: str, deadline: float) -> bool:
    """Follow one job's log over SSE to its `end` event (retrying until the job is
    known); whether it got there."""
    url = f"/api/v1/runs/{run_id}/jobs/{job}/logs/follow"
    offset = 0
    while time.monotonic() < deadline:
        try:
            async with client.stream("GET", url, params={"offset": offset}) as answer:
                if answer.status_code == 404:
                    await asyncio.sleep(0.2)
                    continue
                answer.raise_for_status()
                event = ""
                async for line in answer.aiter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("id: "):
                        offset = int(line.removeprefix("id: "))
                    if event == "end":
                        return True
        except httpx.TransportError:  # the stream was cut: go on from the last offset
            RECONNECTS[0] += 1
    return False


#: Runs-list requests that failed (a transport error or not 200): counted, not timed.
FAILED = [0]
#: Runs-list requests waiting at most at once; one more is dropped, not sent (a server
#: slower than the rate would otherwise grow the backlog, and this script's loop, unbounded).
MAX_PENDING = 256
#: Runs-list requests dropped, or not answered when their phase ended.
UNANSWERED = [0]
#: Streams cut by the server or the network (followers reconnect, as EventSource does).
RECONNECTS = [0]


async def under_load(base: str, token: str, size: Size, jobs: int, result: Result, pid: int) -> int:
    """The idle baseline, then the webhook and the run under load; the run's id."""
    headers = {"Authorization": f"Bearer {token}"}
    # a request waiting for one of the reader's connections is timed from its schedule
    pool = httpx.Limits(max_connections=READERS, max_keepalive_connections=READERS)
    streams = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, limits=pool, timeout=60) as reader,
        httpx.AsyncClient(base_url=base, headers=headers, limits=streams, timeout=None) as sse,
    ):
        # untimed: the first request of each worker thread opens its store and imports
        for _ in range(2):
            await asyncio.gather(*(reader.get("/api/v1/runs") for _ in range(WARM_UP)))
        stop = asyncio.Event()
        began_cpu = cpu_s(pid)
        idle = asyncio.create_task(read_runs(reader, size.rate, stop))
        await asyncio.sleep(size.idle)
        stop.set()
        result.idle_ms = await idle
        result.idle_cpu_s = cpu_s(pid) - began_cpu
        result.idle_errors, FAILED[0] = FAILED[0], 0
        result.idle_unanswered, UNANSWERED[0] = UNANSWERED[0], 0

        stop = asyncio.Event()
        load_began = time.perf_counter()
        began_cpu = cpu_s(pid)
        loaded = asyncio.create_task(read_runs(reader, size.rate, stop))
        body = json.dumps(
            {"ref": "refs/heads/main", "before": "0" * 40, "after": SHA[0], "pusher": "bench"}
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        sent = time.time()
        answer = await reader.post(
            "/hooks/git",
            params={"repo": REPO},
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Stageline-Signature-256": f"sha256={signature}",
                "X-Stageline-Delivery": str(uuid.uuid4()),
            },
        )
        if answer.status_code != 202 or not answer.json().get("run_ids"):
            raise SystemExit(f"the webhook started no run: {answer.status_code} {answer.text}")
        (run_id,) = answer.json()["run_ids"]
        result.clients = min(size.clients, jobs)
        deadline = time.monotonic() + 1800
        # followed jobs spread over the graph, so streams stay open through the run
        step = max(1, jobs // max(1, result.clients))
        followers = [
            asyncio.create_task(follow(sse, run_id, f"j{(i * step) % jobs}", deadline))
            for i in range(result.clients)
        ]
        while time.monotonic() < deadline:
            run = (await sse.get(f"/api/v1/runs/{run_id}")).json()  # not behind the backlog
            if run.get("status") == "completed":
                break
            await asyncio.sleep(0.5)
        stop.set()
        result.load_s = time.perf_counter() - load_began
        result.load_ms = await loaded
        result.load_cpu_s = cpu_s(pid) - began_cpu
        result.errors, FAILED[0] = FAILED[0], 0
        result.unanswered, UNANSWERED[0] = UNANSWERED[0], 0
        result.followed = sum(await asyncio.gather(*followers))
        result.reconnects, RECONNECTS[0] = RECONNECTS[0], 0
        started, finished, first = run_times(run)
        result.server_run_s = finished - started
        result.hook_to_first_s = first - sent
        result.conclusion = str(run.get("conclusion"))
        return run_id


#: The source commit's sha, set once the source repository exists.
SHA: list[str] = []


def server_data(root: Path, source: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A server's data dir under `root`, made by the real CLI: `source` added as the
    repository (with the webhook secret) and an admin; the data dir and the admin's token."""
    data = root / "data"
    (root / "secret").write_text(SECRET + "\n")
    common = ("--data-dir", str(data))
    stageline("repo", "add", REPO, "--url", str(source), "--webhook-secret-file",
              str(root / "secret"), *common, env=env, cwd=root)  # fmt: skip
    stageline("user", "add", "admin", "--role", "admin", "--password-stdin", *common,
              env=env, cwd=root, stdin=PASSWORD + "\n")  # fmt: skip
    token = stageline("token", "create", "--user", "admin", *common, env=env, cwd=root)
    return data, token.strip().splitlines()[-1]


def bench_store(store: str, size: Size, database_url: str | None) -> Result:
    result = Result(store, size.jobs)
    env = child_env(database_url)
    with tempfile.TemporaryDirectory(prefix="stageline-bench-server-") as tmp:
        root = Path(tmp)
        source = root / "source"
        (source / ".github/workflows").mkdir(parents=True)
        (source / ".github/workflows/bench.yml").write_text(workflow(size.jobs))
        git(source, "init", "-q", "-b", "main")
        git(source, "add", "-A")
        git(source, "commit", "-q", "-m", "bench")
        SHA[:] = [git(source, "rev-parse", "HEAD")]
        cli_baseline(source, env, result)

        data, token = server_data(root, source, env)

        port = free_port()
        log = (root / "serve.log").open("w")
        serve = ("serve", "--port", str(port), "--data-dir", str(data))
        server = subprocess.Popen(
            [sys.executable, "-m", "stageline", *serve],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server)
            result.server_idle_mb = rss_mb(server.pid, "VmRSS")
            asyncio.run(under_load(base, token, size, size.jobs, result, server.pid))
            result.server_peak_mb = rss_mb(server.pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
    return result


def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"stageline serve exited with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("stageline serve did not become healthy within 60 s")


def report(results: list[Result], size: Size) -> str:
    rows = [
        f"server bench: {size.jobs} jobs, {size.clients} SSE followers, runs list at "
        f"{size.rate:g} req/s (idle baseline {size.idle:g} s); baselines from the same run",
        f"{'figure':<42}{'store':<10}{'server':>12}{'baseline':>12}{'ratio':>8}",
    ]

    def row(name: str, store: str, value: float, base: float, unit: str) -> None:
        ratio = value / base if base else float("nan")
        rows.append(
            f"{name:<42}{store:<10}{value:>10.1f}{unit:<2}{base:>10.1f}{unit:<2}{ratio:>7.2f}x"
        )

    for r in results:
        row("API runs list p50 (load vs idle)", r.store,
            percentile(r.load_ms, 50), percentile(r.idle_ms, 50), "ms")  # fmt: skip
        row("API runs list p99 (load vs idle)", r.store,
            percentile(r.load_ms, 99), percentile(r.idle_ms, 99), "ms")  # fmt: skip
        row("webhook -> first job (vs run launch)", r.store,
            r.hook_to_first_s * 1000, r.cli_to_first_s * 1000, "ms")  # fmt: skip
        row("per-job time (vs stageline run)", r.store,
            r.server_run_s / r.jobs * 1000, r.cli_run_s / r.jobs * 1000, "ms")  # fmt: skip
        row("peak RSS of serve (vs stageline run)", r.store,
            r.server_peak_mb, r.cli_peak_mb or float("nan"), "MB")  # fmt: skip
        rows.append(
            f"{'  serve idle RSS':<42}{r.store:<10}{r.server_idle_mb:>10.1f}MB"
            f"   requests: {len(r.load_ms)} under load ({r.errors} failed, "
            f"{r.unanswered} unanswered, {len(r.load_ms) / r.load_s if r.load_s else 0:.0f}/s "
            f"answered), {len(r.idle_ms)} idle ({r.idle_errors} failed, "
            f"{r.idle_unanswered} unanswered); "
            f"SSE followers ended: {r.followed}/{r.clients} ({r.reconnects} streams cut); "
            f"run: {r.conclusion}"
        )
        answered = len(r.idle_ms) + r.idle_errors
        per_request = r.idle_cpu_s / answered * 1000 if answered else float("nan")
        busy = r.load_cpu_s / r.load_s * 100 if r.load_s else float("nan")
        rows.append(
            f"{'  serve CPU per idle request':<42}{r.store:<10}{per_request:>10.2f}ms"
            f"   under load: {r.load_cpu_s:.1f} s CPU in {r.load_s:.1f} s ({busy:.0f}% of a "
            "core; the load's requests, the followers and the run's engine)"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke-test size")
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--jobs", type=int, help="jobs in the run")
    parser.add_argument("--clients", type=int, help="SSE followers")
    parser.add_argument("--rate", type=float, help="runs-list requests a second")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the server is stopped and the temp dir removed
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    size = QUICK if args.quick else FULL
    size = Size(
        args.jobs or size.jobs, args.clients or size.clients, args.rate or size.rate, size.idle
    )
    results = []
    if args.store in ("sqlite", "both"):
        results.append(bench_store("sqlite", size, None))
    if args.store in ("postgres", "both"):
        with postgres_database() as url:
            results.append(bench_store("postgres", size, url))
    print(report(results, size))
    return 0 if all(r.conclusion == "success" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
