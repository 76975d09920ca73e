"""`bench/bench_server.py --quick` end to end, on each store: it runs, the run it measures
succeeds, every SSE follower reaches the end of its log, and the table has every figure
beside its baseline (the timings themselves are not checked: the machine is shared)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "bench_server.py"
FIGURES = [
    "API runs list p50 (load vs idle)",
    "API runs list p99 (load vs idle)",
    "webhook -> first job (vs run launch)",
    "per-job time (vs stageline run)",
    "peak RSS of serve (vs stageline run)",
    "serve idle RSS",
]


def bench(store: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--store", store],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def check_table(out: str, store: str) -> None:
    number = r"\d+\.\d"
    for figure in FIGURES[:-1]:
        pattern = rf"^{re.escape(figure)} +{store} +{number}(ms|MB) +{number}(ms|MB) +{number}\dx$"
        assert re.search(pattern, out, re.M), f"{figure!r} missing for {store}:\n{out}"
    idle = re.search(rf"^  {re.escape(FIGURES[-1])} +{store} +{number}MB .*$", out, re.M)
    assert idle, out
    # a stream cut mid-log is a server error (the API's follow has no time limit)
    assert "SSE followers ended: 4/4 (0 streams cut); run: success" in idle[0]
    counts = (
        r"requests: [1-9]\d* under load \(\d+ failed, \d+ unanswered, \d+/s answered\), "
        r"[1-9]\d* idle \(\d+ failed, \d+ unanswered\)"
    )
    assert re.search(counts, idle[0]), idle[0]
    cpu = rf"^  serve CPU per idle request +{store} +\d+\.\d\dms +under load: {number} s CPU"
    assert re.search(cpu, out, re.M), out


@pytest.mark.slow
def test_quick_bench_on_sqlite() -> None:
    check_table(bench("sqlite"), "sqlite")


@pytest.mark.slow
@pytest.mark.services
def test_quick_bench_on_postgresql() -> None:
    check_table(bench("postgres"), "postgres")
