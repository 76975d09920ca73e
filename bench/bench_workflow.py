"""Workflow-language benchmark: load + validate + compile (matrix expansion) of a big
workflow, against plain `yaml.safe_load` of the same file in the same process.

The workflow has 2,000 jobs in 20 layers of 100 (each needing 2 jobs of the layer
before, 4 steps mixing `run`, `uses`/`with`, `env` and `if` expressions) plus one job
whose 16 x 16 matrix expands to 256 legs. Each stage runs `--repeat` times; medians are
reported, and the ratio of Stageline's total to the baseline.

    python bench/bench_workflow.py               # 5 repetitions
    python bench/bench_workflow.py --repeat 9
    python bench/bench_workflow.py --profile     # cProfile of load_workflow, top 25
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from stageline.plan import Event, compile_plan
from stageline.workflow import load_workflow

LAYERS = 20
WIDTH = 100


def generate(layers: int = LAYERS, width: int = WIDTH) -> str:
    """The benchmark workflow as YAML text."""
    out = [
        "name: Benchmark",
        "on:",
        "  push:",
        "    branches: [main, 'releases/**']",
        "  workflow_dispatch:",
        "env:",
        "  CI: 'true'",
        "defaults:",
        "  run:",
        "    shell: bash",
        "jobs:",
    ]
    for layer in range(layers):
        for index in range(width):
            out.append(f"  j{layer}-{index}:")
            out.append(f"    name: Layer {layer} job {index}")
            if layer:
                a, b = index, (index + 1) % width
                out.append(f"    needs: [j{layer - 1}-{a}, j{layer - 1}-{b}]")
            out.extend(
                [
                    "    runs-on: ubuntu-latest",
                    "    timeout-minutes: 10",
                    "    env:",
                    f"      LAYER: '{layer}'",
                    "    outputs:",
                    "      digest: ${{ steps.build.outputs.digest }}",
                    "    steps:",
                    "      - uses: actions/checkout@v4",
                    "        with:",
                    "          fetch-depth: 1",
                    "      - name: Build",
                    "        id: build",
                    "        run: |",
                    f"          echo building {layer}-{index}",
                    '          echo "digest=$(date +%s)" >> "$GITHUB_OUTPUT"',
                    "      - name: Test",
                    "        if: ${{ github.ref == 'refs/heads/main' && !cancelled() }}",
                    "        run: make test",
                    "        env:",
                    "          TARGET: ${{ env.LAYER }}",
                    "      - run: echo done",
                    "        working-directory: ./app",
                ]
            )
    out.extend(
        [
            "  matrix:",
            f"    needs: [j{layers - 1}-0]",
            "    runs-on: ${{ matrix.os }}",
            "    strategy:",
            "      fail-fast: false",
            "      matrix:",
            "        os: [" + ", ".join(f"os{i}" for i in range(16)) + "]",
            "        py: [" + ", ".join(f"'3.{i}'" for i in range(16)) + "]",
            "    steps:",
            "      - run: echo ${{ matrix.os }} ${{ matrix.py }}",
        ]
    )
    return "\n".join(out) + "\n"


def timed(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Median wall time of `work` over `repeat` runs, and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yml"
        text = generate()
        path.write_text(text)
        event = Event(name="push", ref="refs/heads/main")

        def baseline() -> Any:
            return yaml.safe_load(path.read_text())

        def c_baseline() -> Any:
            return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)

        base, data = timed(args.repeat, baseline)
        cbase, _ = timed(args.repeat, c_baseline)
        load, spec = timed(args.repeat, lambda: load_workflow(path))
        comp, plan = timed(args.repeat, lambda: compile_plan(spec, event))
        total = load + comp

        print(
            f"file: {len(text) / 1024:.0f} KiB, {len(data['jobs'])} jobs, "
            f"{len(plan.jobs)} planned jobs (256 matrix legs), median of {args.repeat}"
        )
        print(f"  yaml.safe_load (baseline)        {base * 1000:8.1f} ms")
        print(f"  yaml CSafeLoader (for reference) {cbase * 1000:8.1f} ms")
        print(f"  load_workflow (load + validate)  {load * 1000:8.1f} ms")
        print(f"  compile_plan (expand matrix)     {comp * 1000:8.1f} ms")
        print(f"  stageline total                  {total * 1000:8.1f} ms")
        print(f"  ratio total / yaml.safe_load     {total / base:8.2f} x")

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            load_workflow(path)
            compile_plan(load_workflow(path), event)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
