"""Workers benchmark (issue 9): jobs on Celery workers beside the local executor, in one run.

Two servers run the same workflows, pushed as commits of one repository each: one with
`--executor local`, one with `--executor celery` over a private `redis-server` (started
here on a free port, so nothing else on the machine shares its queues) and 1, 2 and 4
`stageline worker` processes (concurrency 2 each). Figures come from the record (one
clock, the server's): a run's time is its `finished_at - started_at`; a job's queue
latency is from its dispatch (the `job_attempts` row the server wrote when it sent the
task; for a local job, the job's start) to its first step's start.

    python bench/bench_workers.py            # small sizes: a few minutes on 2 cores
    python bench/bench_workers.py --full     # the issue's sizes: 1 → 200 → 1, 2,000 jobs
    python bench/bench_workers.py --only sleep   # some scenarios: fan, dag, sleep
    python bench/bench_workers.py --quick    # a smoke-test size

Scenarios (graphs from bench_engine.py): the fan 1 → W → 1 and the layered DAG over 1 and
2 workers, as per-job time against the local executor; 40 × `sleep 0.25` over 1, 2 and 4
workers, as throughput against the local executor; queue latency p50/p99 of every job.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_engine import Scenario, fan, independent, layers, workflow_yaml  # noqa: E402
from tests.support.workers import Cluster, cluster, redis_server  # noqa: E402

#: Where the bench's workflow lives: every push replaces it, so a push runs one scenario.
WORKFLOW = ".github/workflows/bench.yml"
CONCURRENCY = 2


@dataclass(frozen=True)
class Size:
    fan: int
    depth: int
    width: int
    sleeps: int = 40


QUICK = Size(fan=4, depth=2, width=4, sleeps=8)
SMALL = Size(fan=40, depth=5, width=20)
FULL = Size(fan=200, depth=20, width=100)


def scenarios(size: Size) -> dict[str, Scenario]:
    return {
        "fan": Scenario("fan", f"1 → {size.fan} → 1 fan", fan(size.fan)),
        "dag": Scenario(
            "dag",
            f"{size.depth * size.width:,}-job DAG ({size.depth} × {size.width})",
            layers(size.depth, size.width),
        ),
        "sleep": Scenario(
            "sleep", f"{size.sleeps} × sleep 0.25", independent(size.sleeps), "sleep 0.25"
        ),
    }


@dataclass
class Measured:
    """One run of one scenario on one setup."""

    wall: float
    jobs: int
    #: Per job, seconds from its dispatch to its first step's start ...
    latencies: list[float] = field(default_factory=list)
    #: ... and from its claim by a worker (a local job: its start) to that step.
    starts: list[float] = field(default_factory=list)
    conclusion: str = ""
    #: "job: reason" of each job that did not succeed.
    failures: list[str] = field(default_factory=list)
    #: CPU seconds the server process and the workers spent (their reaped children
    #: included: git, and on the local executor the jobs' processes).
    server_cpu: float = 0.0
    worker_cpu: float = 0.0

    @property
    def per_job_ms(self) -> float:
        return self.wall / self.jobs * 1000

    @property
    def throughput(self) -> float:
        return self.jobs / self.wall


def moment(value: str | float | datetime) -> float:
    """Epoch seconds of an API timestamp (ISO 8601) or a stored one (SQLite keeps
    `UTCDateTime` as epoch seconds)."""
    if isinstance(value, int | float):
        return float(value)
    with contextlib.suppress(ValueError):
        return float(str(value))
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def attempts(team: Cluster, run_id: int) -> dict[str, tuple[float, float | None]]:
    """job key → (sent, claimed) of its first attempt, from the data dir's SQLite."""
    database = team.root / "data" / "stageline.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT job_key, created_at, started_at FROM job_attempts WHERE run_id = ? "
            "ORDER BY number DESC",
            (run_id,),
        ).fetchall()
    return {
        key: (moment(sent), moment(claimed) if claimed else None) for key, sent, claimed in rows
    }


def cpu_seconds(pid: int) -> float:
    """User + system time of `pid` and of its children it has reaped (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the state (field 3): utime, stime, cutime, cstime are fields 14 to 17
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def cpu_of(team: Cluster) -> tuple[float, float]:
    workers = sum(cpu_seconds(w.process.pid) for w in team.workers.values())
    return cpu_seconds(team.server.pid), workers


def measure(team: Cluster, scenario: Scenario) -> Measured:
    server_before, workers_before = cpu_of(team)
    run_id = team.push({WORKFLOW: workflow_yaml(scenario)})
    document = team.finished(run_id, timeout=3600)
    server_after, workers_after = cpu_of(team)
    sent = attempts(team, run_id) if team.executor == "celery" else {}
    wall = moment(document["finished_at"]) - moment(document["started_at"])
    got = Measured(wall, len(document["jobs"]), conclusion=str(document["conclusion"]))
    got.server_cpu = server_after - server_before
    got.worker_cpu = workers_after - workers_before
    for job in document["jobs"]:
        if job["conclusion"] != "success":
            got.failures.append(f"{job['job_id']}: {job['conclusion']} {job['reason'] or ''}")
        steps = [moment(s["started_at"]) for s in job["steps"] if s.get("started_at")]
        started = moment(job["started_at"]) if job["started_at"] else None
        dispatch, claim = sent.get(job["key"], (started, started))
        if steps and dispatch is not None and claim is not None:
            got.latencies.append(min(steps) - dispatch)
            got.starts.append(min(steps) - claim)
    return got


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def warm_up(team: Cluster) -> None:
    """One small untimed run: imports, the workers' clone cache, the store's first rows."""
    measure(team, Scenario("warm", "warm-up", independent(4)))


#: How many workers run each scenario (they are added to one server, one by one).
PLAN = {"fan": (1, 2), "dag": (1, 2), "sleep": (1, 2, 4)}


def bench(size: Size, root: Path, only: Sequence[str]) -> dict[tuple[str, str], Measured]:
    """(scenario, setup) → figures; setups: local, 1w, 2w, 4w."""
    chosen = {key: s for key, s in scenarios(size).items() if key in only}
    results: dict[tuple[str, str], Measured] = {}
    with cluster(root / "local", {"README": "bench\n"}, executor="local") as local:
        warm_up(local)
        for key, scenario in chosen.items():
            print(f"local: {scenario.title} ...", file=sys.stderr, flush=True)
            results[key, "local"] = measure(local, scenario)
    with (
        redis_server(root / "redis") as redis,
        cluster(root / "celery", {"README": "bench\n"}, broker=redis.url) as team,
    ):
        for count in sorted({n for key in chosen for n in PLAN[key]}):
            while len(team.workers) < count:
                team.start_worker(f"w{len(team.workers) + 1}", concurrency=CONCURRENCY)
            warm_up(team)
            for key in (key for key in chosen if count in PLAN[key]):
                print(f"{count} worker(s): {chosen[key].title} ...", file=sys.stderr, flush=True)
                results[key, f"{count}w"] = measure(team, chosen[key])
    return results


def report(size: Size, results: dict[tuple[str, str], Measured]) -> str:
    chosen = {key: s for key, s in scenarios(size).items() if (key, "local") in results}
    lines = [
        f"workers bench: {CONCURRENCY} jobs at once per worker, Redis broker, "
        "the local executor measured in the same run",
        "",
        f"{'scenario':30} {'setup':9} {'jobs':>5} {'run s':>8} {'ms/job':>8} "
        f"{'× local':>8} {'jobs/s':>7} {'× local':>8} {'queue p50 ms':>13} {'p99 ms':>8} "
        f"{'start p50 ms':>13} {'server cpu ms/job':>18} {'worker cpu ms/job':>18}",
    ]
    lines.append("-" * len(lines[-1]))
    for key, scenario in chosen.items():
        base = results[key, "local"]
        for setup in ("local", "1w", "2w", "4w"):
            got = results.get((key, setup))
            if got is None:
                continue
            name = "local" if setup == "local" else f"{setup[:-1]} worker" + "s"[: setup != "1w"]
            lines.append(
                f"{scenario.title:30} {name:9} {got.jobs:>5} {got.wall:>8.2f} "
                f"{got.per_job_ms:>8.1f} {got.per_job_ms / base.per_job_ms:>8.2f} "
                f"{got.throughput:>7.2f} {got.throughput / base.throughput:>8.2f} "
                f"{percentile(got.latencies, 50) * 1000:>13.0f} "
                f"{percentile(got.latencies, 99) * 1000:>8.0f} "
                f"{percentile(got.starts, 50) * 1000:>13.0f} "
                f"{got.server_cpu / got.jobs * 1000:>18.1f} "
                f"{got.worker_cpu / got.jobs * 1000:>18.1f}"
                + ("" if got.conclusion == "success" else f"  run {got.conclusion}")
            )
            lines += [f"    {failure}" for failure in got.failures[:5]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--full", action="store_true", help="the issue's sizes (slow)")
    sizes.add_argument("--quick", action="store_true", help="a smoke-test size")
    parser.add_argument("--only", default="fan,dag,sleep", help="scenarios: fan,dag,sleep")
    args = parser.parse_args(argv)
    only = [key.strip() for key in args.only.split(",") if key.strip()]
    if unknown := set(only) - set(PLAN):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    size = FULL if args.full else QUICK if args.quick else SMALL
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stageline-bench-workers-") as tmp:
        results = bench(size, Path(tmp), only)
    print(report(size, results))
    print(f"\n(bench took {time.monotonic() - began:.0f} s)")
    return 0 if all(r.conclusion == "success" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
