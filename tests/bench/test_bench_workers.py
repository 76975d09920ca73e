"""`bench/bench_workers.py --quick` end to end: it runs a private Redis, a local and a
Celery server and 1, 2 and 4 workers, every run it measures succeeds, and the table has
a row per scenario and setup with every figure (the timings themselves are not checked:
the machine is shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "bench_workers.py"
ROWS = {
    "1 → 4 → 1 fan": ["local", "1 worker", "2 workers"],
    "8-job DAG (2 × 4)": ["local", "1 worker", "2 workers"],
    "8 × sleep 0.25": ["local", "1 worker", "2 workers", "4 workers"],
}


@pytest.mark.slow
def test_quick_bench_measures_every_setup() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    number = r"\d+\.\d+"
    for scenario, setups in ROWS.items():
        for setup in setups:
            # jobs, run s, ms/job, × local, jobs/s, × local, queue p50, p99, start p50,
            # server and worker CPU per job; nothing after them (a failed run says so)
            pattern = (
                rf"^{re.escape(scenario)} +{setup} +\d+ +{number} +{number} +{number} "
                rf"+{number} +{number} +\d+ +\d+ +\d+ +{number} +{number}$"
            )
            assert re.search(pattern, done.stdout, re.M), f"{scenario}, {setup}:\n{done.stdout}"
