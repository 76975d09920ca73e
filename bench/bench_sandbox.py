"""What the sandbox costs: one job of N trivial steps, local executor (the baseline) and
sandbox executor, timed in the same process.

    python bench/bench_sandbox.py              # 20 steps, median of 5
    python bench/bench_sandbox.py --steps 50 --repeat 9
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from stageline.executors.base import Executor
from stageline.executors.local import LocalExecutor
from stageline.executors.sandbox import SandboxExecutor
from stageline.plan.model import PlannedJob, PlannedStep
from stageline.runner.contract import Annotation, JobRequest, StepResult
from stageline.runner.places import LocalDirs


class NullSink:
    def step_started(self, index: int, name: str, log_path: str | None = None) -> None: ...
    def log(self, index: int, line: str) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...
    def annotation(self, annotation: Annotation) -> None: ...
    def event(self, name: str, data: dict[str, object]) -> None: ...
    def heartbeat(self) -> None: ...


def repository(root: Path) -> str:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("bench\n")
    env = ["-c", "user.name=b", "-c", "user.email=b@example.com"]
    for args in (["init", "-q"], ["add", "."], [*env, "commit", "-q", "-m", "b"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, text=True, capture_output=True
    )
    return done.stdout.strip()


def request(root: Path, sha: str, steps: int, attempt: int) -> JobRequest:
    planned = [
        PlannedStep(i, None, None, None, "true", None, None, {}, {}, None, False, None)
        for i in range(steps)
    ]
    job = PlannedJob(
        "bench", "bench", "bench", [], None, "x", {}, None, None, {}, None, False, planned
    )
    dirs = LocalDirs(
        str(root / "repo"),
        str(root / "work"),
        str(root / "artifacts"),
        str(root / "cache"),
        str(root / "logs"),
    )
    contexts = {"github": {"sha": sha, "event": {}}, "env": {}}
    return JobRequest("bench", job, contexts, sha, "refs/heads/main", attempt=attempt, local=dirs)


def timed(executor: Executor, root: Path, sha: str, steps: int, repeat: int) -> float:
    async def go() -> list[float]:
        await executor.start()
        times = []
        for attempt in range(1, repeat + 2):  # the first is a warm-up
            started = time.perf_counter()
            result = await executor.run_job(
                request(root, sha, steps, attempt), NullSink(), asyncio.Event()
            )
            times.append(time.perf_counter() - started)
            assert result.conclusion.value == "success", result
        await executor.close()
        return times[1:]

    return statistics.median(asyncio.run(go()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sha = repository(root)
        local = timed(LocalExecutor(), root, sha, args.steps, args.repeat)
        sandbox = timed(SandboxExecutor(), root, sha, args.steps, args.repeat)
    print(f"one job of {args.steps} `true` steps, median of {args.repeat}")
    print(f"  local (baseline)   {local * 1000:8.1f} ms  {local / args.steps * 1000:6.2f} ms/step")
    print(
        f"  sandbox            {sandbox * 1000:8.1f} ms  {sandbox / args.steps * 1000:6.2f} ms/step"
    )
    print(f"  sandbox cost       {(sandbox - local) / args.steps * 1000:6.2f} ms/step")


if __name__ == "__main__":
    main()
