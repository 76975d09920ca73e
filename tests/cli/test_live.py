"""The live view: fed the events a run of the example pipeline produces, on a real Rich
console writing to a buffer."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from stageline.cli.live import LiveView, format_duration, make_observer
from stageline.engine import events as ev

RUN = "run-1"
T0 = 1_700_000_000.0

# The example pipeline (examples/webapp/.github/workflows/pipeline.yml): id, needs.
PIPELINE = [
    ("build", ()),
    ("integration", ("build",)),
    ("e2e", ("build",)),
    ("deploy-staging", ("build", "integration", "e2e")),
    ("approval", ("deploy-staging",)),
    ("deploy-production", ("build", "approval")),
]


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def text_of(renderable: RenderableType) -> str:
    plain = Console(file=io.StringIO(), width=120, color_system=None)
    plain.print(renderable)
    return plain.file.getvalue()  # type: ignore[attr-defined]


def started(jobs: list[ev.JobInfo]) -> ev.RunStarted:
    return ev.RunStarted(
        run_id=RUN,
        at=T0,
        number=7,
        workflow="webapp pipeline",
        workflow_path=".github/workflows/pipeline.yml",
        event="push",
        ref="refs/heads/main",
        sha="0123456789abcdef",
        actor="ada",
        repository="acme/webapp",
        jobs=tuple(jobs),
        log_dir="/tmp/logs/run-1",
    )


def pipeline_jobs() -> list[ev.JobInfo]:
    return [ev.JobInfo(key=j, job_id=j, name=j, needs=n) for j, n in PIPELINE]


def run_job(view: LiveView, key: str, at: float, lines: list[str], fail: bool = False) -> None:
    view.handle(ev.JobStarted(run_id=RUN, at=at, job_key=key, name=key))
    view.handle(ev.StepStarted(run_id=RUN, at=at, job_key=key, index=0, name="Tests"))
    for line in lines:
        view.handle(ev.LogLine(run_id=RUN, at=at, job_key=key, step_index=0, line=line))
    outcome = "failure" if fail else "success"
    view.handle(
        ev.StepFinished(
            run_id=RUN,
            at=at + 1,
            job_key=key,
            index=0,
            name="Tests",
            outcome=outcome,
            conclusion=outcome,
        )
    )
    view.handle(
        ev.JobFinished(
            run_id=RUN,
            at=at + 2,
            job_key=key,
            name=key,
            conclusion=outcome,
            duration=2.0,
            reason="step Tests failed" if fail else None,
        )
    )


def skip(view: LiveView, key: str, at: float) -> None:
    view.handle(
        ev.JobFinished(
            run_id=RUN,
            at=at,
            job_key=key,
            name=key,
            conclusion="skipped",
            reason="a job it needs did not succeed",
        )
    )


def finished(conclusion: str) -> ev.RunFinished:
    return ev.RunFinished(
        run_id=RUN,
        at=T0 + 9,
        number=7,
        workflow="webapp pipeline",
        conclusion=conclusion,
        duration=9.0,
    )


def test_make_observer_picks_the_live_view_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = object.__new__(LiveView)  # any observer stands in for the line printer
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(make_observer(terminal(), None, fallback=lines), LiveView)
    piped = Console(file=io.StringIO())
    assert make_observer(piped, None, fallback=lines) is lines
    monkeypatch.setenv("TERM", "dumb")
    assert (
        make_observer(Console(file=io.StringIO(), force_terminal=True), None, fallback=lines)
        is lines
    )


def test_live_view_is_an_observer() -> None:
    assert isinstance(LiveView(terminal()), ev.Observer)


def test_running_jobs_show_state_step_and_elapsed_time() -> None:
    view = LiveView(terminal())
    view.handle(started(pipeline_jobs()))
    try:
        view.handle(ev.JobStarted(run_id=RUN, at=time.time() - 3, job_key="build", name="build"))
        view.handle(ev.StepStarted(run_id=RUN, at=T0, job_key="build", index=1, name="Lint"))
        view.handle(
            ev.JobWaiting(
                run_id=RUN,
                job_key="approval",
                name="approval",
                waiting_for="approval for production",
            )
        )
        shown = text_of(view.render())
    finally:
        view.close()
    rows = {line.split()[1]: line for line in shown.splitlines() if len(line.split()) > 1}
    assert "webapp pipeline #7 · push · main · 0123456" in shown
    assert "in progress" in rows["build"] and "Lint" in rows["build"]
    assert re.search(r" 3\.\ds ", rows["build"])  # started three seconds ago
    assert "waiting" in rows["approval"] and "approval for production" in rows["approval"]
    assert "queued" in rows["deploy-production"]


def test_summary_follows_the_graph_and_shows_the_failed_steps_last_lines() -> None:
    console = terminal()
    view = LiveView(console)
    view.handle(started(pipeline_jobs()))
    run_job(view, "build", T0, ["lint ok"])
    run_job(view, "integration", T0 + 2, ["ok"])
    run_job(view, "e2e", T0 + 2, [f"line {n}" for n in range(1, 13)], fail=True)
    for key in ("deploy-staging", "approval", "deploy-production"):
        skip(view, key, T0 + 5)
    summary = text_of(view.summary(finished("failure")))
    view.handle(finished("failure"))

    rows = {line.split("│")[2].strip(): line for line in summary.splitlines() if "│" in line}
    stage = {job: row.split("│")[1].strip() for job, row in rows.items()}
    # GitHub runs a job after everything it needs: build, then integration and e2e
    # together, then staging, approval, production.
    assert stage == {
        "build": "1",
        "integration": "2",
        "e2e": "2",
        "deploy-staging": "3",
        "approval": "4",
        "deploy-production": "5",
    }
    assert "failure" in rows["e2e"] and "step Tests failed" in rows["e2e"]
    assert "skipped" in rows["deploy-production"]
    assert "2.0s" in rows["build"]
    graph = "graph: build → integration, e2e → deploy-staging → approval → deploy-production"
    assert graph in summary
    assert "e2e / Tests: last lines" in summary
    tail = summary[summary.index("last lines") :]
    assert "line 12" in tail and "line 5" in tail and "line 4\n" not in tail
    assert "webapp pipeline #7 failure in 9.0s" in summary
    # The run's end prints the same summary to the terminal.
    assert "e2e / Tests: last lines" in console.file.getvalue()  # type: ignore[attr-defined]


def test_matrix_legs_share_their_jobs_stage() -> None:
    jobs = [
        ev.JobInfo(key="build", job_id="build", name="build"),
        ev.JobInfo(key="test.1", job_id="test", name="test (3.11)", needs=("build",)),
        ev.JobInfo(key="test.2", job_id="test", name="test (3.12)", needs=("build",)),
    ]
    view = LiveView(terminal())
    view.handle(started(jobs))
    view.close()
    summary = text_of(view.summary(finished("success")))
    assert "graph: build → test ×2" in summary


def test_a_job_needing_a_caller_comes_after_the_called_jobs() -> None:
    jobs = [
        ev.JobInfo(key="build", job_id="build", name="build"),
        ev.JobInfo(key="up / a", job_id="up / a", name="up / a", needs=("build",)),
        ev.JobInfo(key="up / b", job_id="up / b", name="up / b", needs=("up / a",)),
        ev.JobInfo(key="notify", job_id="notify", name="notify", needs=("up",)),
    ]
    view = LiveView(terminal())
    view.handle(started(jobs))
    view.close()
    summary = text_of(view.summary(finished("success")))
    assert "graph: build → up / a → up / b → notify" in summary


def test_a_large_run_shows_only_active_jobs_and_counts_the_rest() -> None:
    jobs = [ev.JobInfo(key=f"j{i}", job_id=f"j{i}", name=f"j{i}") for i in range(100)]
    view = LiveView(terminal())
    view.handle(started(jobs))
    try:
        for i in range(60):
            run_job(view, f"j{i}", T0, [])
        view.handle(ev.JobStarted(run_id=RUN, at=T0, job_key="j60", name="j60"))
        shown = text_of(view.render())
    finally:
        view.close()
    assert "j60" in shown and "j59" not in shown and "j99" not in shown
    assert "1 in progress · 39 queued · 60 success" in shown
    summary = text_of(view.summary(finished("success")))
    assert "[100 jobs: 1 in progress · 39 queued · 60 success]" in summary
    listed = [line.split("│")[2].strip() for line in summary.splitlines() if "│" in line]
    assert listed == [f"j{i}" for i in range(60, 100)]
    assert "60 more jobs not listed" in summary


def test_close_is_idempotent_and_gives_the_terminal_back() -> None:
    console = terminal()
    out: io.StringIO = console.file  # type: ignore[assignment]
    view = LiveView(console)
    view.handle(started(pipeline_jobs()))
    view.close()
    written = out.getvalue()
    view.close()
    assert out.getvalue() == written
    assert written.rindex("\x1b[?25h") > written.rindex("\x1b[?25l")  # cursor shown again


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, ""), (0.42, "0.4s"), (12.34, "12.3s"), (125, "2m05s"), (3720, "1h02m")],
)
def test_format_duration(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
def test_stageline_run_on_a_terminal_draws_the_live_view(tmp_path: Path) -> None:
    workflow = """\
on: push
jobs:
  ok:
    runs-on: ubuntu-latest
    steps:
      - run: echo fine
  bad:
    needs: ok
    runs-on: ubuntu-latest
    steps:
      - name: Count then fail
        run: |
          for n in 1 2 3 4 5 6 7 8; do echo "line $n"; done
          exit 3
  after:
    needs: bad
    runs-on: ubuntu-latest
    steps:
      - run: echo never
"""
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/ci.yml").write_text(workflow)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "ci"]):
        subprocess.run(["git", *identity, *args], cwd=tmp_path, check=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run"],
        cwd=tmp_path,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = read_all(master).decode(errors="replace")
    os.close(master)
    assert process.wait(timeout=120) == 1
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    # The live rows were drawn (and erased) before the summary was printed.
    live, summary = screen[: screen.rindex("┏")], screen[screen.rindex("┏") :]
    assert "ci.yml #1 · push · main" in live
    assert re.search(r"✗ bad +failure", live)
    rows = {line.split("│")[2].strip(): line for line in summary.splitlines() if "│" in line}
    assert "success" in rows["ok"] and "failure" in rows["bad"] and "skipped" in rows["after"]
    assert "graph: ok → bad → after" in summary
    tail = summary[summary.index("bad / Count then fail: last lines") :]
    assert "line 8" in tail and "exit code 3" in tail and "line 1" not in tail
