from __future__ import annotations

import io

from stageline.engine import events as ev
from stageline.engine.lineprinter import LinePrinter


def test_lines_are_prefixed_with_job_and_step() -> None:
    out = io.StringIO()
    printer = LinePrinter(out)
    jobs = (ev.JobInfo(key="test.1", job_id="test", name="test (3.11)"),)
    printer.handle(
        ev.RunStarted(
            run_id="7",
            number=3,
            workflow="CI",
            workflow_path="ci.yml",
            event="push",
            ref="refs/heads/main",
            sha="a" * 40,
            actor="alice",
            repository="acme/shop",
            jobs=jobs,
        )
    )
    printer.handle(ev.JobStarted(run_id="7", job_key="test.1", name="test (3.11)"))
    printer.handle(ev.StepStarted(run_id="7", job_key="test.1", index=0, name="Run pytest"))
    printer.handle(ev.LogLine(run_id="7", job_key="test.1", step_index=0, line="3 passed"))
    printer.handle(
        ev.JobFinished(
            run_id="7", job_key="test.1", name="test (3.11)", conclusion="failure", reason="boom"
        )
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("run #3 (id 7): CI on push refs/heads/main")
    assert lines[1] == "[test (3.11)] started"
    assert lines[2] == "[test (3.11)/Run pytest] 3 passed"
    assert lines[3] == "[test (3.11)] ✗ failure: boom"
