"""A/B of two source trees on `bench_engine`'s scenarios, by CPU time.

    python bench/bench_ab.py --base /path/to/old/src [--rounds 5]

Runs `stageline run` from `--base` (the baseline) and from this checkout's `src/`
(or `--new`) in alternating order, each side in its own repositories (their stores may be
at different schema revisions) with bytecode compiled ahead, and prints per scenario the
median CPU time (user + sys of the run and its steps, from `os.wait4`) and wall time of
each side and their ratio. CPU time moves far less than wall time when other work shares
the machine, so a regression shows here first. Check out the baseline with
`git worktree add --detach /tmp/base <commit>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import bench_engine as be

SCENARIOS = ("start", "b", "c")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """CPU and wall seconds of one run (it must succeed)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the baseline's src/ directory")
    parser.add_argument("--new", default=str(Path(__file__).parents[1] / "src"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stageline-ab-"))
    sides = {"base": args.base, "new": args.new}
    envs: dict[str, dict[str, str]] = {}
    repos: dict[tuple[str, str], tuple[Path, list[str]]] = {}
    for side, src in sides.items():
        home = root / side
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=src, PYTHONPYCACHEPREFIX=str(home / "pycache"))
        envs[side] = env
        for scenario in be.scenarios():
            if scenario.key in SCENARIOS:
                repo = be.prepare(scenario, home)
                be.create_store(repo, env)
                repos[side, scenario.key] = (repo, be.stageline_argv(scenario))
        repo, argv = repos[side, "start"]
        run(argv, repo, env)  # fills the bytecode cache
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        order = ("base", "new") if round_ % 2 == 0 else ("new", "base")
        for key in SCENARIOS:
            for side in order:
                repo, argv = repos[side, key]
                results.setdefault((side, key), []).append(run(argv, repo, envs[side]))
    jobs = {s.key: len(s.needs) for s in be.scenarios()}
    print(f"medians of {args.rounds} alternating rounds; CPU = user + sys of the run and its steps")
    header = ("scenario", "base CPU ms", "new CPU ms", "new/base", "base wall", "new wall")
    print("{:9} {:>12} {:>11} {:>9} {:>10} {:>9}  new CPU ms/job".format(*header))
    for key in SCENARIOS:
        cpu = {s: statistics.median(c for c, _ in results[s, key]) for s in sides}
        wall = {s: statistics.median(w for _, w in results[s, key]) for s in sides}
        print(
            f"{key:9} {cpu['base'] * 1000:12.0f} {cpu['new'] * 1000:11.0f} "
            f"{cpu['new'] / cpu['base']:9.2f} {wall['base'] * 1000:10.0f} "
            f"{wall['new'] * 1000:9.0f}  {cpu['new'] * 1000 / jobs[key]:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
