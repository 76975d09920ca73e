"""Engine benchmarks: `stageline run` against `make` running the same DAG of commands.

Each scenario is one job graph. It is written twice, as a workflow in a fresh git
repository and as a Makefile, and both run as child processes of this script, so the
wall time of each includes everything a user waits for (interpreter start-up, parsing,
scheduling, workspaces, the record). Peak memory is the child's `ru_maxrss`, CPU its
user + system time with its children's (the steps').

    python bench/bench_engine.py                 # every scenario, median of 3
    python bench/bench_engine.py --only b,c      # some of them (start-up is always run)
    python bench/bench_engine.py --repeat 5      # median of five
    python bench/bench_engine.py --make-only     # just the make side (harness check)

Scenarios (from the engine issue): (a) a 50-job chain, (b) 1 → 200 → 1 fan-out/fan-in,
(c) 2,000 jobs in 20 layers of 100, each needing 2 jobs of the layer before, (d) 40
independent `sleep 0.25` jobs at parallelism 8 (ideal 1.25 s), and start-up: one job;
plus two commands without a make side: `stageline --help` and `stageline validate` of
the article's workflow. Per-job overhead is the issue's: (wall − start-up's wall) /
(jobs − 1), so that start-up is not spread over the jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The parallelism of the make baseline the issue compares against.
BASE_PARALLEL = 2
#: The article's workflow, which `stageline validate` is timed on.
ARTICLE = Path(__file__).resolve().parents[1] / "examples" / "article" / "multi-stage.yml"
#: The issue's targets, printed beside the figures: scenario → (figure, limit).
TARGETS = {
    "start": "≤ 150 ms",
    "help": "≤ 120 ms",
    "validate": "≤ 120 ms",
    "b": "≤ 1.2 ms/job",
    "c": "≤ 1.2 ms/job, < 60 MB",
    "d": "≤ +15 %",
}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    needs: dict[str, list[str]]
    command: str = "true"
    parallel: int = BASE_PARALLEL
    #: The best wall time any scheduler could reach, when it is not ~0.
    ideal: float | None = None

    @property
    def jobs(self) -> int:
        return len(self.needs)


@dataclass(frozen=True)
class Measurement:
    wall: float
    max_rss_kb: int
    returncode: int
    output: str
    #: User + system CPU seconds of the process and its children.
    cpu: float = 0.0


def median(runs: Sequence[Measurement]) -> Measurement:
    """The run with the median wall time (the lower one of the middle two)."""
    return sorted(runs, key=lambda m: m.wall)[(len(runs) - 1) // 2]


def chain(n: int) -> dict[str, list[str]]:
    return {f"j{i}": [f"j{i - 1}"] if i else [] for i in range(n)}


def fan(width: int) -> dict[str, list[str]]:
    middle = [f"m{i}" for i in range(width)]
    return {"src": [], **{m: ["src"] for m in middle}, "sink": middle}


def layers(depth: int, width: int) -> dict[str, list[str]]:
    """Layer 0 has no needs; job i of layer L needs jobs i and i+1 (wrapping) of L-1."""
    needs: dict[str, list[str]] = {}
    for layer in range(depth):
        for i in range(width):
            before = [f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % width}"]
            needs[f"l{layer}_{i}"] = before if layer else []
    return needs


def independent(n: int) -> dict[str, list[str]]:
    return {f"s{i}": [] for i in range(n)}


def scenarios() -> list[Scenario]:
    return [
        Scenario("start", "start-up: 1 job", independent(1)),
        Scenario("a", "(a) 50-job chain", chain(50)),
        Scenario("b", "(b) 1 → 200 → 1 fan-out/in", fan(200)),
        Scenario("c", "(c) 2,000 jobs, 20 layers × 100", layers(20, 100)),
        Scenario("d", "(d) 40 × sleep 0.25, parallel 8", independent(40), "sleep 0.25", 8, 1.25),
    ]


def workflow_yaml(scenario: Scenario) -> str:
    lines = [f"name: bench {scenario.key}", "on: push", "jobs:"]
    for job, needs in scenario.needs.items():
        lines.append(f"  {job}:")
        lines.append("    runs-on: ubuntu-latest")
        if needs:
            lines.append(f"    needs: [{', '.join(needs)}]")
        lines.append(f"    steps:\n      - run: {scenario.command}")
    return "\n".join(lines) + "\n"


def makefile(scenario: Scenario) -> str:
    targets = list(scenario.needs)
    rules = [f".PHONY: all {' '.join(targets)}", f"all: {' '.join(targets)}"]
    rules += [
        f"{job}: {' '.join(needs)}\n\t@{scenario.command}" for job, needs in scenario.needs.items()
    ]
    return "\n".join(rules) + "\n"


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run `argv` and return its wall time and its own peak RSS (not this script's)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(wall, usage.ru_maxrss, process.returncode, output, cpu)


def compiled_env(root: Path) -> dict[str, str]:
    """The environment for stageline children, with their bytecode compiled ahead.

    An installed package runs from cached bytecode; a development environment with
    PYTHONDONTWRITEBYTECODE=1 would recompile every stageline module in every run
    (~0.3 s). The bytecode goes to a private cache (PYTHONPYCACHEPREFIX), not the tree;
    one untimed run fills it with every module a run imports (libraries included,
    which the prefix makes compile again).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    warm = Scenario("warm-up", "warm-up", independent(1))
    result = measure(stageline_argv(warm), prepare(warm, root), env)
    if check_stageline(warm, result):
        raise SystemExit(f"the warm-up run failed: {check_stageline(warm, result)}")
    return env


def stageline_argv(scenario: Scenario) -> list[str]:
    argv = [sys.executable, "-m", "stageline", "run", ".github/workflows/bench.yml"]
    return [*argv, "--parallel", str(scenario.parallel), "--json"]


def create_store(repo: Path, env: dict[str, str]) -> None:
    """The store a repository has after its first run (creating it is a one-off cost)."""
    code = "import sys; from stageline.store import open_store as o; o(sys.argv[1]).close()"
    store = repo / ".stageline"
    subprocess.run([sys.executable, "-c", code, str(store)], env=env, check=True)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def prepare(scenario: Scenario, root: Path) -> Path:
    """A directory that is both a git repository with the workflow and holds the Makefile."""
    repo = root / scenario.key
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/bench.yml").write_text(workflow_yaml(scenario))
    (repo / "Makefile").write_text(makefile(scenario))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    git(repo, *identity, "commit", "-q", "-m", "bench")
    return repo


def check_stageline(scenario: Scenario, result: Measurement) -> str | None:
    """Why the run does not count, or None when every job succeeded."""
    if result.returncode != 0:
        return f"exit {result.returncode}: {result.output.strip()[-400:]}"
    try:
        document = json.loads(result.output[result.output.index("{") :])
    except ValueError:
        return "no JSON document in the output"
    count = len(document.get("jobs", ()))
    if count != scenario.jobs:
        return f"{count} jobs in the record, expected {scenario.jobs}"
    return None


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    make: Measurement
    stageline: Measurement | None = None
    error: str | None = None
    #: Start-up only: the first run in the repository, which also creates the store.
    first: Measurement | None = None


def run_scenario(
    scenario: Scenario, root: Path, repeat: int, make_only: bool, env: dict[str, str]
) -> Row:
    repo = prepare(scenario, root)
    make_argv = ["make", f"-j{scenario.parallel}", "-s", "all"]
    make = median([measure(make_argv, repo) for _ in range(repeat)])
    if make.returncode:
        raise SystemExit(f"make failed on {scenario.key}: {make.output}")
    if make_only:
        return Row(scenario, make)
    argv = stageline_argv(scenario)
    # Start-up is what every run pays: the store's creation is the first run's alone,
    # so that run is reported apart; the other scenarios start with a store.
    first = measure(argv, repo, env) if scenario.key == "start" else None
    if first is None:
        create_store(repo, env)
    runs = [measure(argv, repo, env) for _ in range(repeat)]
    checked = [first, *runs] if first else runs
    error = next((e for e in (check_stageline(scenario, r) for r in checked) if e), None)
    return Row(scenario, make, median(runs), error, first)


@dataclass(frozen=True)
class CommandRow:
    """A command without a make side: its median run."""

    key: str
    title: str
    run: Measurement
    error: str | None = None


def run_command(
    key: str, title: str, args: list[str], cwd: Path, repeat: int, env: dict[str, str]
) -> CommandRow:
    argv = [sys.executable, "-m", "stageline", *args]
    runs = [measure(argv, cwd, env) for _ in range(repeat)]
    failed = next((r for r in runs if r.returncode != 0), None)
    error = f"exit {failed.returncode}: {failed.output.strip()[-200:]}" if failed else None
    return CommandRow(key, title, median(runs), error)


def commands(root: Path, repeat: int, env: dict[str, str]) -> list[CommandRow]:
    """`stageline --help`, and `stageline validate` of the article's workflow."""
    return [
        run_command("help", "stageline --help", ["--help"], root, repeat, env),
        run_command(
            "validate",
            "stageline validate (article)",
            ["validate", str(ARTICLE)],
            root,
            repeat,
            env,
        ),
    ]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def per_job(wall: float, start: float | None, jobs: int) -> str:
    """The issue's per-job overhead: (wall − start-up's wall) / (jobs − 1)."""
    if start is None or jobs < 2:
        return "-"
    return ms((wall - start) / (jobs - 1))


def report(rows: list[Row], extra: list[CommandRow]) -> str:
    header = f"{'scenario':34} {'jobs':>5} {'make ms':>9} {'ms/job':>7}"
    with_stageline = any(row.stageline for row in rows)
    if with_stageline:
        header += (
            f" {'stageline ms':>13} {'ms/job':>7} {'× make':>7} {'CPU ms':>8} {'peak MB':>8}"
            f"  {'target':22} note"
        )
    lines = [header, "-" * len(header)]
    start = next((r for r in rows if r.scenario.key == "start"), None)
    for row in rows:
        jobs, make, stageline = row.scenario.jobs, row.make, row.stageline
        make_start = start.make.wall if start else None
        cells = (
            f"{row.scenario.title:34} {jobs:>5} {ms(make.wall):>9} "
            f"{per_job(make.wall, make_start, jobs):>7}"
        )
        if stageline is None:
            lines.append(cells)
            continue
        ours_start = start.stageline.wall if start and start.stageline else None
        note = row.error or ""
        if row.first is not None and not note:
            note = f"first run (creates the store) {ms(row.first.wall)} ms"
        if row.scenario.ideal and not note:
            ideal = row.scenario.ideal
            note = f"{(stageline.wall / ideal - 1) * 100:+.0f}% vs ideal {ideal:g} s"
        target = TARGETS.get(row.scenario.key, "")
        lines.append(
            f"{cells} {ms(stageline.wall):>13} {per_job(stageline.wall, ours_start, jobs):>7} "
            f"{stageline.wall / make.wall:>7.1f} {ms(stageline.cpu):>8} "
            f"{stageline.max_rss_kb / 1024:>8.1f}  {target:22} {note}"
        )
    for command in extra:
        target = TARGETS.get(command.key, "")
        lines.append(
            f"{command.title:34} {'':>5} {'-':>9} {'-':>7} {ms(command.run.wall):>13} {'-':>7} "
            f"{'-':>7} {ms(command.run.cpu):>8} {command.run.max_rss_kb / 1024:>8.1f}  "
            f"{target:22} {command.error or ''}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated scenario keys: start,a,b,c,d,help,validate")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the median counts")
    parser.add_argument("--make-only", action="store_true", help="skip stageline")
    args = parser.parse_args(argv)
    keys = args.only.split(",") if args.only else None
    chosen = [s for s in scenarios() if keys is None or s.key in keys or s.key == "start"]
    with tempfile.TemporaryDirectory(prefix="stageline-bench-") as tmp:
        env = compiled_env(Path(tmp)) if not args.make_only else dict(os.environ)
        rows = [run_scenario(s, Path(tmp), args.repeat, args.make_only, env) for s in chosen]
        wanted = keys is None or {"help", "validate"} & set(keys)
        extra = commands(Path(tmp), args.repeat, env) if wanted and not args.make_only else []
        extra = [c for c in extra if keys is None or c.key in keys]
    print(
        f"python {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs; "
        "make -jN and stageline "
        f"--parallel N with N = {BASE_PARALLEL}, except (d) at 8; median of {args.repeat}; "
        "ms/job = (wall − start-up's wall) / (jobs − 1)"
    )
    print(report(rows, extra))
    return 1 if any(row.error for row in rows) or any(c.error for c in extra) else 0


if __name__ == "__main__":
    sys.exit(main())
