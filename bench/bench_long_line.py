"""Time and peak memory of one step's output: 100 MB on a single line, against the same
100 MB in 100-byte lines (the baseline), through the runner's reader, masker and log file.

    python bench/bench_long_line.py            # 100 MB
    python bench/bench_long_line.py --mb 20

Each case runs in a fresh interpreter so its peak RSS (`ru_maxrss`) is its own. The
single line must cost about what the baseline costs: the reader cuts it into 64 KiB
pieces in linear time, and memory stays bounded by a few pieces, not by the line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CASES = {
    "lines": "head -c {n} /dev/zero | tr '\\0' x | fold -w 99",  # 100-byte lines
    "one line": "head -c {n} /dev/zero | tr '\\0' x",
}


class CountingSink:
    """A `JobSink` that only counts what it is sent."""

    def __init__(self) -> None:
        self.lines = 0

    def log(self, index: int, line: str) -> None:
        self.lines += 1

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


def one(case: str, size: int) -> None:
    """Run one case in this interpreter and print `seconds maxrss_kib log_bytes`."""
    from stageline.runner.logs import StepLog
    from stageline.runner.masking import Masker
    from stageline.runner.places import LogFile
    from stageline.runner.process import ProcessGroups, run_process

    folder = tempfile.mkdtemp(prefix="stageline-bench-")
    path = os.path.join(folder, "0.log")
    log = StepLog(LogFile(path), 0, CountingSink(), Masker(["a-secret-value"]))  # type: ignore[arg-type]
    started = time.perf_counter()
    outcome = asyncio.run(
        run_process(
            ["bash", "-c", CASES[case].format(n=size)],
            cwd=folder,
            env={"PATH": os.environ["PATH"]},
            on_line=lambda text, more: log.write(text, more=more),
            on_late_line=log.late,
            groups=ProcessGroups(),
            cancel=asyncio.Event(),
            deadline=None,
        )
    )
    log.close()
    elapsed = time.perf_counter() - started
    assert outcome.exit_code == 0, outcome
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    written = Path(path).read_bytes()
    assert written.count(b"x") == size, "bytes were lost"
    print(f"{elapsed:.2f} {peak} {len(written)}")
    Path(path).unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.mb * 1_000_000
    if args.one:
        one(args.one, size)
        return 0
    print(f"{args.mb} MB of output through run_process → StepLog (masker on) → log file")
    results: dict[str, tuple[float, int]] = {}
    for case in CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--mb", str(args.mb), "--one", case],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds, peak, written = done.stdout.split()
        results[case] = (float(seconds), int(peak))
        label = f"{case} (baseline)" if case == "lines" else case
        print(
            f"  {label:<18} {float(seconds):7.2f} s  peak RSS {int(peak) / 1024:7.1f} MiB  "
            f"log {int(written) / 1e6:.1f} MB"
        )
    (base_s, base_rss), (long_s, long_rss) = results["lines"], results["one line"]
    ratio = f"time {long_s / base_s:.2f} x, memory {long_rss / base_rss:.2f} x"
    print(f"  ratio one line / lines: {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
